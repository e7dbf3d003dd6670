"""Planning over the domains: the dispatcher, SLA targets and triage, KPIs, and the emergency
auto-dispatch round; none of them writes the store except through ``edge.Node``."""
