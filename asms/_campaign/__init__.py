"""Campaigns on Redis: many sender processes, one account limit, one queue, one durable state.

:func:`submit_campaign` groups a campaign as ``send_bulk`` does and queues its units;
:class:`CampaignWorker` takes units, sends them under a lease and settles them;
:func:`campaign_status` and :func:`campaign_results` read a campaign back. Redis itself is
reached only through :mod:`asms._redis`.
"""
