"""Message catalogues of the kiosk (``zh.json``, ``en.json``); a package so that installs ship them."""
