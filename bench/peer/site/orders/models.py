from django.db import models


class Order(models.Model):
    """Creating one is the "event": django-webhook posts it to every webhook on the topic."""

    n = models.IntegerField()
    pad = models.TextField()
