from django.db import models


class WorkerHeartbeat(models.Model):
    """Last time each Celery worker ran the heartbeat task: proof that the queue is being consumed."""

    hostname = models.CharField(max_length=255, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.hostname} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"


class JobWatermark(models.Model):
    """A periodic job's named cursor: how far through the changed rows it has got. One row per job, so
    that each job is incremental on its own and a slow one holds no other back."""

    name = models.CharField(max_length=100, unique=True)
    position = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.position:%Y-%m-%d %H:%M:%S}"
