"""``accord worker``: passes run as Celery tasks by workers on a Redis or RabbitMQ broker."""
