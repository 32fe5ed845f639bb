"""Run inside the peer venv: `drive.py setup URL...` creates the schema and one webhook per
URL; `drive.py emit START COUNT` creates COUNT orders (each one an event fanned out to every
webhook) and prints its CPU seconds as JSON. `--standin` does both for the stand-in."""

import json
import os
import resource
import sys

PAD = "x" * 900


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str]) -> None:
    standin = "--standin" in argv
    argv = [a for a in argv if a != "--standin"]
    command, args = argv[0], argv[1:]
    if standin:
        if command == "emit":
            from standin import deliver

            urls = os.environ["PEER_URLS"].split(",")
            for n in range(int(args[0]), int(args[0]) + int(args[1])):
                body = json.dumps({"topic": "orders.Order/create", "object": {"n": n, "pad": PAD}})
                for url in urls:
                    deliver.delay(url, body, "bench-secret-123456")
        print(json.dumps({"cpu": cpu()}))
        return

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peersite.settings")
    django.setup()
    if command == "setup":
        from django.core.management import call_command
        from django_webhook.models import Webhook, WebhookSecret, WebhookTopic, populate_topics_from_settings

        call_command("migrate", run_syncdb=True, verbosity=0)
        populate_topics_from_settings()
        topic = WebhookTopic.objects.get(name="orders.Order/create")
        for url in args:
            webhook = Webhook.objects.create(url=url, active=True)
            webhook.topics.add(topic)
            WebhookSecret.objects.create(webhook=webhook, token="bench-secret-123456")
    elif command == "emit":
        from orders.models import Order

        for n in range(int(args[0]), int(args[0]) + int(args[1])):
            Order.objects.create(n=n, pad=PAD)
    print(json.dumps({"cpu": cpu()}))


if __name__ == "__main__":
    main(sys.argv[1:])
