"""Monitoring: text descriptors, Evidently drift reports, the retraining trigger.

Empty until the monitoring stage lands.
"""
