"""Provisioning ION's webhooks: `bridge setup`, `bridge status`, `bridge teardown`.

state.py        the inputs, as frozen values: Desired, ObservedReceiver, StoredCredential
plan.py         pure: inputs -> Plan (steps.py: the steps, each printable)
observe.py      reads the inputs from the settings and from ION
apply.py        carries a plan out through IonClient; credentials.py stores the secret
run.py          one setup run: observe, plan, print, apply
status.py       the status sections; report.py prints them
teardown.py     removes what setup created
cli.py          the click commands
"""
