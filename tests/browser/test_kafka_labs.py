"""The Kafka labs in a real browser: each scenario, opened from the catalog as a
learner would, does what its explain panel promises, judged by what the page
shows (the cluster picture, the partition strips, the groups' offsets tables,
the notice and the safety badge)."""

from __future__ import annotations

import re
import subprocess

import pytest
from playwright.sync_api import expect

from tests.browser.test_layout import SMALLEST_TEXT

pytestmark = pytest.mark.browser

#: a test that fails because of a bug in the app, named in its reason: it passes (and so fails) once fixed


# -- what a learner does ------------------------------------------------------------------------------------------


def open_lab(page, server_url, slug):
    page.goto(server_url + "/")
    page.locator(f"#card-{slug}").get_by_role("button", name="Open lab").click()
    expect(page).to_have_url(re.compile(r"/labs/\w+/$"))
    expect(page.locator("#connection")).to_have_text("live")
    expect(page.locator("#kafka-cluster svg")).to_be_visible()


def forward(page, seconds):
    """Press +5 s or +30 s and wait for the frame that shows the jump."""
    target = int(page.locator("#lab-status").get_attribute("data-now")) + seconds * 1000
    page.locator(f"#btn-forward-{seconds}").click()
    page.wait_for_function(f"Number(document.getElementById('lab-status').dataset.now) >= {target}")


def pause(page):
    page.locator("#btn-pause").click()
    expect(page.locator("#lab-status")).to_have_attribute("data-playing", "false")


def number(page, selector, attribute):
    return int(page.locator(selector).get_attribute(attribute))


def processed(page, member):
    """The "N processed" a member's line in the groups panel shows."""
    text = page.locator(f"#member-{member}").inner_text()
    found = re.search(r"(\d+) processed", text)
    assert found, text
    return int(found.group(1))


def click_machine(page, name):
    """Click a machine's box in the cluster picture (kills or restarts it)."""
    page.locator(f"#machine-{name} > rect").first.click()


def service_button(page, service, label):
    page.locator(f"#service-{service}").get_by_role("button", name=label, exact=True).click()


def publish(page, topic, value, key=""):
    form = page.locator("#publish")
    form.locator("input[name=topic]").fill(topic)
    form.locator("input[name=key]").fill(key)
    form.locator("input[name=value]").fill(value)
    form.get_by_role("button", name="Publish").click()


def outcomes(page):
    """The web producer's acknowledged records: (topic, partition, offset, key, value), newest first."""
    found = []
    for text in page.locator("#publisher-web .outcomes li.ok").all_inner_texts():
        match = re.match(r"✔ (.+)-(\d+) at offset (\d+) · key (\S+) · “(.*)”", text)
        assert match, text
        topic, partition, offset, key, value = match.groups()
        found.append((topic, int(partition), int(offset), key, value))
    return found


def offsets_owners(page, group):
    """partition → owner, as the group's offsets table shows it."""
    rows = page.locator(f"#group-{group} table.offsets tbody tr")
    return {cells[0].strip(): cells[1].strip()
            for cells in (row.locator("td").all_inner_texts() for row in rows.all())}


def expect_safe(page):
    expect(page.locator("#kafka-safety")).to_have_attribute("data-ok", "true")
    expect(page.locator("#kafka-safety")).to_contain_text("Safe")


# -- the eight stories ----------------------------------------------------------------------------------------------


def test_messenger_a_dead_email_service_falls_behind_and_resumes_where_it_stopped(page, server_url):
    open_lab(page, server_url, "kafka-messenger")
    pause(page)
    forward(page, 5)
    before = number(page, "#group-email", "data-lag")
    click_machine(page, "email-1")
    expect(page.locator("#machine-email-1")).to_have_attribute("data-state", "down")
    expect(page.locator("#member-email-1")).to_have_attribute("data-status", "✖ killed")
    forward(page, 30)
    dead_lag = number(page, "#group-email", "data-lag")
    assert dead_lag >= before + 80, (before, dead_lag)  # 3 messages/s for 30 s, none read
    for group in ("notifications", "analytics"):
        assert number(page, f"#group-{group}", "data-lag") < 40, f"{group} keeps up"
        expect(page.locator(f"#member-{group}-1")).to_have_attribute("data-status", "working")
    stopped_at = processed(page, "email-1")
    click_machine(page, "email-1")
    expect(page.locator("#machine-email-1")).to_have_attribute("data-state", "up")
    forward(page, 30)
    expect(page.locator("#member-email-1")).to_have_attribute("data-status", "working")
    assert processed(page, "email-1") > stopped_at + 30, "it reads again"
    resumed_lag = number(page, "#group-email", "data-lag")
    assert resumed_lag - dead_lag < (dead_lag - before) / 2, (before, dead_lag, resumed_lag)
    # faster still (6/s → 12/s) and it catches up sooner
    page.locator("#member-email-1").get_by_role("button", name="faster").click()
    expect(page.locator("#member-email-1")).to_contain_text(" 12/s ")
    forward(page, 30)
    forward(page, 30)
    caught_up = number(page, "#group-email", "data-lag")
    assert caught_up < 40, f"email-1 catches up from its committed offset (lag {resumed_lag} → {caught_up})"
    expect_safe(page)


def test_messenger_a_restarted_email_service_catches_up_at_its_own_pace(page, server_url):
    open_lab(page, server_url, "kafka-messenger")
    pause(page)
    click_machine(page, "email-1")
    expect(page.locator("#machine-email-1")).to_have_attribute("data-state", "down")
    forward(page, 30)
    click_machine(page, "email-1")
    expect(page.locator("#machine-email-1")).to_have_attribute("data-state", "up")
    forward(page, 30)
    forward(page, 30)
    assert number(page, "#group-email", "data-lag") < 40, "caught up"


def test_shop_a_vendor_message_never_reaches_invoices(page, server_url):
    open_lab(page, server_url, "kafka-shop")
    service_button(page, "shop", "stop")
    service_button(page, "vendors", "stop")
    expect(page.locator("#service-shop")).to_have_attribute("data-rate", "0.0")
    expect(page.locator("#service-vendors")).to_have_attribute("data-rate", "0.0")
    pause(page)
    forward(page, 30)  # both consumers drain what was sent before
    invoices, inbox = processed(page, "invoices-1"), processed(page, "vendor-inbox-1")
    publish(page, "vendor-messages", "refund please", key="vendor-7")
    expect(page.locator("#lab-notice")).to_contain_text("web sends it to vendor-messages")
    forward(page, 5)
    (topic, partition, offset, key, value), = outcomes(page)
    assert (topic, key, value) == ("vendor-messages", "vendor-7", "refund please")
    record = page.locator(f'#partition-vendor-messages-{partition} .strip li.record[data-offset="{offset}"]')
    expect(record).to_contain_text("refund please")
    expect(page.locator("#topic-orders")).not_to_contain_text("refund")
    assert processed(page, "vendor-inbox-1") == inbox + 1
    assert processed(page, "invoices-1") == invoices


def test_keys_the_same_key_lands_on_the_same_partition(page, server_url):
    open_lab(page, server_url, "kafka-keys")
    service_button(page, "chat", "stop")  # so that nothing else writes between our two records
    expect(page.locator("#service-chat")).to_have_attribute("data-rate", "0.0")
    pause(page)
    forward(page, 5)
    notice = page.locator("#lab-notice")
    publish(page, "chat", "first", key="user-3")
    expect(notice).to_contain_text("murmur2(“user-3”)")
    said = re.search(r"% 4 partitions = partition (\d)", notice.inner_text())
    assert said, notice.inner_text()
    forward(page, 5)
    publish(page, "chat", "second", key="user-3")
    expect(notice).to_contain_text("murmur2(“user-3”)")
    forward(page, 5)
    expect(page.locator("#publisher-web .outcomes li.ok")).to_have_count(2)
    second, first = outcomes(page)
    assert first[:2] == second[:2] == ("chat", int(said.group(1))), (first, second)
    assert (first[3:], second[3:]) == (("user-3", "first"), ("user-3", "second"))
    assert second[2] == first[2] + 1, "the next offset of the same partition"
    strip = page.locator(f"#partition-chat-{first[1]} .strip")
    expect(strip.locator(f'li[data-offset="{first[2]}"]')).to_contain_text("first")
    expect(strip.locator(f'li[data-offset="{second[2]}"]')).to_contain_text("second")
    publish(page, "chat", "keyless")
    expect(notice).to_contain_text("sticky")
    expect(notice).not_to_contain_text("murmur2")


def test_keys_after_adding_partitions_the_notice_says_the_producer_still_uses_its_old_count(page, server_url):
    open_lab(page, server_url, "kafka-keys")
    pause(page)
    forward(page, 5)
    publish(page, "chat", "before", key="user-3")
    forward(page, 5)
    page.locator("#add-partitions input[name=topic]").fill("chat")
    page.locator("#add-partitions input[name=partitions]").fill("6")
    page.locator("#add-partitions button[type=submit]").click()
    forward(page, 5)
    expect(page.locator("#topic-chat .partition")).to_have_count(6)
    publish(page, "chat", "after", key="user-3")
    notice = page.locator("#lab-notice")
    expect(notice).to_contain_text("metadata still says 4 partitions, not 6")
    said = re.search(r"% 4 partitions = partition (\d)", notice.inner_text())
    assert said, notice.inner_text()
    forward(page, 5)
    latest = outcomes(page)[0]
    assert latest[:2] == ("chat", int(said.group(1))) and latest[4] == "after", latest


def test_groups_a_fifth_consumer_idles_and_a_dead_ones_partitions_move(page, server_url):
    open_lab(page, server_url, "kafka-groups")
    group = page.locator("#group-workers")
    add = page.locator("#add-consumer-workers")
    for count in range(2, 6):
        add.click()
        expect(group).to_have_attribute("data-members", str(count))
    pause(page)
    forward(page, 30)
    expect(group).to_have_attribute("data-state", "stable")
    members = [f"workers-{n}" for n in range(1, 6)]
    owning = [m for m in members if page.locator(f"#member-{m}").get_attribute("data-partitions") == "1"]
    idle = [m for m in members if page.locator(f"#member-{m}").get_attribute("data-partitions") == "0"]
    assert len(owning) == 4 and len(idle) == 1, (owning, idle)
    expect(page.locator(f"#member-{idle[0]}")).to_contain_text("idle: no partition left for it")
    assert sorted(offsets_owners(page, "workers").values()) == sorted(owning)
    victim = owning[0]
    click_machine(page, victim)
    expect(page.locator(f"#machine-{victim}")).to_have_attribute("data-state", "down")
    forward(page, 30)
    expect(group).to_have_attribute("data-state", "stable")
    owners = offsets_owners(page, "workers")
    assert sorted(owners) == [f"events-{p}" for p in range(4)]
    assert victim not in owners.values() and "–" not in owners.values(), owners
    expect(page.locator(f"#member-{idle[0]}")).to_have_attribute("data-partitions", "1")
    expect(page.locator(f"#member-{idle[0]}")).not_to_contain_text("idle")


def test_replication_leadership_moves_and_nothing_acknowledged_is_lost(page, server_url):
    open_lab(page, server_url, "kafka-replication")
    pause(page)
    forward(page, 5)
    partition = page.locator("#partition-payments-0")
    leader = partition.get_attribute("data-leader")
    assert leader in ("1", "2", "3"), leader
    click_machine(page, f"b{leader}")
    expect(page.locator(f"#machine-b{leader}")).to_have_attribute("data-state", "down")
    forward(page, 30)
    new_leader = partition.get_attribute("data-leader")
    assert new_leader not in (leader, "-1"), (leader, new_leader)
    expect(partition).to_contain_text(f"leader b{new_leader}")
    expect(page.locator(f"#machine-b{new_leader} .chip-leader")).to_contain_text(["payments-0"])
    acked_after_failover = number(page, "#acked-payments", "data-count")
    service_button(page, "payments", "stop")
    expect(page.locator("#service-payments")).to_have_attribute("data-rate", "0.0")
    forward(page, 30)
    acked = number(page, "#acked-payments", "data-count")
    assert acked >= acked_after_failover > 0
    assert number(page, "#readable-payments", "data-count") == acked, "acknowledged = readable"
    expect_safe(page)


def test_replication_a_refused_write_shows_as_waiting_with_its_error_counted(page, server_url):
    """min.insync.replicas=2 with one broker left: an acks=all publish is refused with
    NOT_ENOUGH_REPLICAS and retried; the producers panel shows it waiting and counts the error."""
    open_lab(page, server_url, "kafka-replication")
    pause(page)
    forward(page, 5)
    for broker in ("b2", "b3"):
        click_machine(page, broker)
        expect(page.locator(f"#machine-{broker}")).to_have_attribute("data-state", "down")
    forward(page, 30)
    publish(page, "payments", "will it land?", key="k1")
    forward(page, 5)
    web = page.locator("#publisher-web")
    expect(web.locator(".outcomes li.pending").first).to_contain_text("will it land?")
    expect(web.locator(".outcomes li.pending").first).to_contain_text("retrying after NOT_ENOUGH_REPLICAS")
    expect(web.locator(".waiting")).to_contain_text("waiting for an answer")
    expect(page.locator("#retries-web")).to_contain_text(re.compile(r"NOT_ENOUGH_REPLICAS × \d+"))
    # the broker's refusals, one after another, are one timeline line with a count
    expect(page.locator("#lab-timeline .repeat").first).to_contain_text(re.compile(r"× \d+"))


def test_activity_more_partitions_and_consumers_absorb_ten_times_the_load(page, server_url):
    open_lab(page, server_url, "kafka-activity")
    pause(page)
    forward(page, 5)
    calm = number(page, "#group-activity-db", "data-lag")
    page.locator("#toggle-ten-x").click()
    expect(page.locator("#toggle-ten-x")).to_have_attribute("data-state", "on")
    forward(page, 5)
    forward(page, 5)
    loaded = number(page, "#group-activity-db", "data-lag")
    assert loaded > calm + 300, (calm, loaded)  # 100 records/s arrive, 15/s are read
    add_partitions = page.locator("#add-partitions")
    add_partitions.locator("input[name=topic]").fill("activity")
    add_partitions.locator("input[name=partitions]").fill("6")
    add_partitions.get_by_role("button", name="Add partitions").click()
    expect(page.locator("#lab-notice")).to_contain_text("Asked the controller for 6 partitions of activity")
    for count in range(2, 7):
        page.locator("#add-consumer-activity-db").click()
        expect(page.locator("#group-activity-db")).to_have_attribute("data-members", str(count))
    forward(page, 30)
    expect(page.locator("#partition-activity-5")).to_be_visible()
    expect(page.locator("#topic-activity h3")).to_contain_text("6 partitions")
    expect(page.locator("#group-activity-db")).to_have_attribute("data-state", "stable")
    for n in range(1, 7):
        expect(page.locator(f"#member-activity-db-{n}")).to_have_attribute("data-partitions", "1")
    owners = offsets_owners(page, "activity-db")
    assert sorted(owners) == [f"activity-{p}" for p in range(6)]
    assert sorted(owners.values()) == [f"activity-db-{n}" for n in range(1, 7)], owners


def test_bookings_every_group_gets_every_booking_but_a_queue_splits_them(page, server_url):
    open_lab(page, server_url, "kafka-bookings")
    pause(page)
    forward(page, 5)
    lab, data = processed(page, "lab-service-1"), processed(page, "data-service-1")
    forward(page, 30)
    assert processed(page, "lab-service-1") > lab and processed(page, "data-service-1") > data
    service_button(page, "booking", "stop")
    forward(page, 30)
    acked = number(page, "#acked-bookings", "data-count")
    assert processed(page, "lab-service-1") == processed(page, "data-service-1") == acked > 0, "each got every one"
    service_button(page, "booking", "faster (2×)")
    page.locator("#toggle-classic-queue").click()
    expect(page.locator("#toggle-classic-queue")).to_have_attribute("data-state", "on")
    forward(page, 30)
    queue = page.locator("#classic-queue")
    received = number(page, "#classic-queue", "data-received")
    got = [number(page, f"#queue-{w}", "data-got") for w in ("queue-lab", "queue-data")]
    assert received >= 20 and all(0 < g < received for g in got), (received, got)
    assert sum(got) <= received, "each booking reached one service only"
    assert abs(got[0] - got[1]) <= 0.2 * sum(got) / 2, f"the services take turns: {got}"
    expect(queue).to_contain_text(f"{received} booking(s) sent to the queue")
    assert number(page, "#acked-bookings", "data-count") == acked, "nothing more went to Kafka"


def test_retention_deletes_old_segments_and_compaction_keeps_the_latest_per_key(page, server_url):
    open_lab(page, server_url, "kafka-retention")
    pause(page)
    forward(page, 30)
    forward(page, 30)
    for p in (0, 1):
        expect(page.locator(f"#partition-clicks-{p} .strip .deleted")).to_have_count(1)
        expect(page.locator(f"#partition-clicks-{p} .strip .deleted")).to_contain_text("deleted")
        start = page.locator(f"#partition-clicks-{p} .replicas li").first.inner_text()
        assert int(re.search(r"start (\d+)", start).group(1)) > 0, start
    profiles = page.locator("#partition-profiles-0")
    gaps = profiles.locator(".strip .gap").count()
    readable = number(page, "#readable-profiles", "data-count")
    assert gaps > 0 or readable < int(profiles.get_attribute("data-hw")), (gaps, readable)
    keys = {k.strip() for k in profiles.locator(".strip li.record .key").all_inner_texts()}
    assert keys <= {f"user-{n}" for n in range(1, 6)}, keys
    expect(page.locator("#topic-clicks h3")).to_contain_text("retention 20 s")
    form = page.locator("#set-retention")
    form.locator("input[name=topic]").fill("clicks")
    form.locator("input[name=retention_ms]").fill("60000")
    form.get_by_role("button", name="Change retention").click()
    expect(page.locator("#lab-notice")).to_contain_text("clicks now keeps records for 60 s")
    forward(page, 5)
    expect(page.locator("#topic-clicks h3")).to_contain_text(re.compile(r"retention (60 s|1 min) "))
    expect(page.locator("#topic-profiles h3")).to_contain_text("cleanup compact")


# -- refusals and layout --------------------------------------------------------------------------------------------


def test_publishing_to_a_missing_topic_is_refused_and_changes_nothing(page, server_url):
    open_lab(page, server_url, "kafka-shop")
    pause(page)
    forward(page, 5)
    topics = page.locator("#kafka-topics article.topic")
    expect(topics).to_have_count(2)
    publish(page, "invoices", "lost?")
    notice = page.locator("#lab-notice")
    expect(notice).to_contain_text("Not done: There is no topic 'invoices' (topics: orders, vendor-messages)")
    expect(notice).to_have_class(re.compile(r"\berror\b"))
    forward(page, 5)
    expect(topics).to_have_count(2)
    expect(page.locator("#topic-invoices")).to_have_count(0)
    expect(page.locator("#publisher-web")).to_have_count(0)
    expect(page.locator("#kafka-topics")).not_to_contain_text("lost?")
    expect(page.locator("#lab-timeline")).not_to_contain_text("invoices'")


#: after the width is measured: what stays too wide once the panels' column may shrink below its content
TOO_WIDE = """() => {
  for (const el of document.querySelectorAll('.panels')) el.style.gridTemplateColumns = 'minmax(0, 1fr)';
  const edge = document.documentElement.clientWidth;
  const wide = new Set();
  for (const el of document.querySelectorAll('body *')) {
    if (el.getBoundingClientRect().right <= edge + 1) continue;
    if ([...el.children].some(c => c.getBoundingClientRect().right > edge + 1)) continue;
    const box = el.closest('table, svg, pre, form') || el;
    const width = Math.round(box.getBoundingClientRect().width);
    wide.add(box.tagName + ' in #' + (box.closest('[id]') || {id: '?'}).id + ' (' + width + 'px)');
  }
  return [...wide];
}"""


def test_a_kafka_lab_is_readable_on_a_projector(browser, server_url):
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    open_lab(page, server_url, "kafka-messenger")
    forward(page, 5)
    expect(page.locator("#lab-timeline li").first).to_be_visible()
    small = page.evaluate(SMALLEST_TEXT)
    page.close()
    assert small == []


def test_a_kafka_lab_is_usable_on_a_phone(browser, server_url):
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    open_lab(page, server_url, "kafka-messenger")
    machine = page.locator("#machine-email-1")
    machine.scroll_into_view_if_needed()
    machine.locator("rect").first.tap()
    expect(machine).to_have_attribute("data-state", "down")
    page.locator("#btn-pause").click()
    expect(page.locator("#lab-status")).to_have_attribute("data-playing", "false")
    width = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate(TOO_WIDE)
    page.close()
    assert width <= 390, f"no sideways scrolling: {width}px, because of {wide}"


def test_the_page_gives_the_bootstrap_address_of_its_brokers_for_real_kafka_clients(page, server_url):
    open_lab(page, server_url, "kafka-messenger")
    section = page.locator("#real-clients")
    section.scroll_into_view_if_needed()
    expect(section).to_be_visible()
    expect(page.locator("#bootstrap")).to_have_text(re.compile(r"^127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+$"))
    first = page.locator("#bootstrap").inner_text().split(",")[0]
    expect(page.locator("#kcat-list")).to_have_text(f"kcat -b {first} -L")
    expect(page.locator("#kcat-produce")).to_have_text(f"kcat -b {first} -P -t messages -K :")
    expect(page.locator("#python-consume")).to_contain_text(f'bootstrap_servers="{first}"')
    # a real client's records travel the lab: its machine shows in the picture with what it wrote
    done = subprocess.run(["kcat", "-b", first, "-P", "-t", "messages", "-K", ":"], input="a:1\nb:2\n",
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    expect(page.locator("#machine-real-rdkafka")).to_contain_text("real client: 2 written")
