"""The domain core: incidents, severity, the timeline, derived facts and the permission policy.

Plain Python that takes a database session and a clock; it knows nothing of Slack or any transport.
"""
