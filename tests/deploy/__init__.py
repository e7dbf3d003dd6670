"""Tests of deploy/: the Ansible roles and playbooks, linted, syntax-checked and applied to a Debian root."""
