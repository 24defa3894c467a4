"""The whole lifecycle through signed requests, on SQLite and PostgreSQL."""

from bot.slack.harness import Harness


def test_open_ack_contain_resolve(db_harness: Harness, clock) -> None:
    h = db_harness
    reply = h.command("open Customer PII echoed back in an answer --data sensitive --ongoing")
    assert reply.ack.status == 200
    assert "Opened *INC-1*" in reply.text
    assert "SEV1 because sensitive PII or credentials were exposed" in reply.text
    channel = h.incident_channel(1)
    assert h.fake.channels[channel]["name"] == "inc-1-customer-pii-echoed-back-in-an-answer"
    h.command("ic <@U0BOB|bob>", channel=channel)
    clock.advance(minutes=4, seconds=12)
    reply = h.command("contained flag killed", channel=channel, user="U0BOB")
    assert "MTTC: 4m 12s" in reply.text
    assert "MTTC: 4m 12s" in h.summary(1)
    h.command("resolve rolled back the model", channel=channel, user="U0BOB")
    assert "Resolved" in h.summary(1)
