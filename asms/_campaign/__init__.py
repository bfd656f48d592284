"""Campaigns on Redis: many sender processes, one account limit, one queue, one durable state.

:func:`submit_campaign` groups a campaign as ``send_bulk`` does and queues its units;
:class:`CampaignWorker` takes units, sends them under a lease and settles them;
:func:`campaign_status` and :func:`campaign_results` read a campaign back. Redis itself is
reached only through :mod:`asms._redis`.
"""

from .metrics import HistogramSnapshot, MetricsSnapshot, WorkerMetrics, serve_metrics
from .status import CampaignStatus, campaign_results, campaign_status
from .submit import CampaignSubmission, submit_campaign
from .worker import CampaignWorker

__all__ = [
    "CampaignStatus",
    "CampaignSubmission",
    "CampaignWorker",
    "HistogramSnapshot",
    "MetricsSnapshot",
    "WorkerMetrics",
    "campaign_results",
    "campaign_status",
    "serve_metrics",
    "submit_campaign",
]
