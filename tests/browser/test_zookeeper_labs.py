"""The ZooKeeper labs in a real browser: each scenario's main interaction does
what its explain panel promises."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def open_lab(page, server_url, slug):
    page.goto(server_url + "/")
    page.locator(f"#card-{slug}").get_by_role("button", name="Open lab").click()
    expect(page).to_have_url(re.compile(r"/labs/\w+/$"))
    expect(page.locator("#connection")).to_have_text("live")


def forward(page, seconds):
    """Press +5 s or +30 s and wait for the frame that shows the jump."""
    target = int(page.locator("#lab-status").get_attribute("data-now")) + seconds * 1000
    page.locator(f"#btn-forward-{seconds}").click()
    page.wait_for_function(f"Number(document.getElementById('lab-status').dataset.now) >= {target}")


def test_naive_tracker_fails_without_its_tracker(page, server_url):
    open_lab(page, server_url, "naive-tracker")
    forward(page, 5)
    expect(page.locator("#metric-hops")).not_to_have_text("0")
    page.locator("#machine-T rect").click()
    expect(page.locator("#machine-T")).to_have_attribute("data-state", "down")
    forward(page, 5)  # writes already past the tracker finish
    succeeded = page.locator("#metric-succeeded").inner_text()
    forward(page, 5)
    expect(page.locator("#metric-succeeded")).to_have_text(succeeded)
    expect(page.locator("#machine-M1")).to_have_attribute("data-state", "up")


def test_a_lab_without_zookeeper_shows_no_znode_tree_or_sessions(page, server_url):
    open_lab(page, server_url, "naive-tracker")
    forward(page, 5)  # and frames keep them out of sight
    expect(page.locator("#zk-tree-view")).to_be_hidden()
    expect(page.locator("#zk-sessions")).to_be_hidden()
    expect(page.locator("#zk-metrics, #metric-hops").first).to_be_visible()
    open_lab(page, server_url, "master-election")
    expect(page.locator("#zk-tree-view")).to_be_visible()
    expect(page.locator("#zk-sessions")).to_be_visible()


def master_name(page):
    """The one storage machine the picture shows as master."""
    master = page.locator('.actor[data-role="master"]')
    expect(master).to_have_count(1)
    return master.get_attribute("id").removeprefix("machine-")


def test_master_election_hands_over_when_the_master_dies(page, server_url):
    open_lab(page, server_url, "master-election")
    forward(page, 5)
    old = master_name(page)
    expect(page.locator("#machine-A1")).to_contain_text(f"master: {old}")
    page.locator(f"#machine-{old} rect").click()
    expect(page.locator(f"#machine-{old}")).to_have_attribute("data-state", "down")
    forward(page, 30)
    new = master_name(page)
    assert new != old
    expect(page.locator("#machine-A1")).to_contain_text(f"master: {new}")
    expect(page.locator("#metric-master")).to_have_text(new)
    expect(page.locator("#lab-timeline")).to_contain_text("is the master now")
    expect(page.locator('#zk-tree-view .zk-tree.reference [data-path="/clusterx/master_ip"]')).to_contain_text(new)
    succeeded = int(page.locator("#metric-succeeded").inner_text())
    forward(page, 5)
    assert int(page.locator("#metric-succeeded").inner_text()) > succeeded, "writes resume"
    page.locator(f"#machine-{old} rect").click()
    forward(page, 5)
    expect(page.locator(f"#machine-{old}")).to_have_attribute("data-role", "slave")


def test_leader_election_gives_a_higher_epoch(page, server_url):
    open_lab(page, server_url, "leader-election")
    forward(page, 5)
    leader = page.locator('.zk-server[data-role="leading"]')
    expect(leader).to_have_count(1)
    old = leader.get_attribute("id").removeprefix("machine-")
    expect(leader).to_contain_text("epoch 1")
    page.locator(f"#machine-{old} circle").click()
    forward(page, 5)
    new_leader = page.locator('.zk-server[data-role="leading"]')
    expect(new_leader).to_have_count(1)
    expect(new_leader).to_contain_text("epoch 2")
    expect(page.locator("#lab-timeline")).to_contain_text("won the election")


def test_a_frozen_clients_session_expires_and_its_ephemeral_node_goes(page, server_url):
    open_lab(page, server_url, "sessions-ephemerals")
    forward(page, 5)
    session = page.locator('#zk-sessions tr[data-client="C1"]')
    expect(session).to_be_visible()
    tree = page.locator("#zk-tree-view .zk-tree.reference")
    expect(tree.locator('[data-path="/clusterx/master_ip"]')).to_contain_text("ephemeral")
    page.locator("#machine-C1 rect").click()
    # Its session lives on until it times out: still C1's, no longer connected to any server.
    expect(session.locator("td").nth(2)).to_have_text("–")
    forward(page, 5)
    expect(session).to_have_count(0)
    expect(tree.locator('[data-path="/clusterx/master_ip"]')).to_have_count(0)
    expect(page.locator("#lab-timeline")).to_contain_text("expires session")


def test_quorum_minority_stops_and_the_unsafe_switch_allows_split_brain(page, server_url):
    open_lab(page, server_url, "quorum-split-brain")
    forward(page, 5)
    page.locator("#preset-split-2").click()
    forward(page, 5)
    for name in ("z1", "z2"):
        expect(page.locator(f"#machine-{name}")).to_have_attribute("data-role", "looking")
    expect(page.locator("#zk-safety")).to_have_attribute("data-ok", "true")
    page.locator("#btn-heal").click()
    page.locator("#toggle-half-quorum").click()
    expect(page.locator("#toggle-half-quorum")).to_have_attribute("data-state", "on")
    forward(page, 5)
    page.locator("#preset-split-2").click()
    forward(page, 30)
    expect(page.locator('.zk-server[data-role="leading"]')).to_have_count(2)
    # The badge turns red once both sides have committed something the other has not: each
    # side's clients write every few seconds of play.
    expect(page.locator("#zk-safety")).to_have_attribute("data-ok", "false", timeout=15_000)
    expect(page.locator("#zk-safety")).to_contain_text("SPLIT BRAIN")
    # both sides elect a master, and the badge names both
    expect(page.locator('.actor[data-role="master"]')).to_have_count(2)
    expect(page.locator("#zk-safety li").first).to_contain_text(re.compile(r"2 masters at once, M\d .* and M\d "))
    cause = page.locator("#zk-safety .causes a").last
    expect(cause).to_be_visible()
    target = cause.get_attribute("href")
    expect(page.locator(target)).to_contain_text(re.compile(r"leads epoch|is the master now"))


def test_the_console_runs_zookeeper_commands_with_real_error_names_and_watches(page, server_url):
    open_lab(page, server_url, "leader-election")
    forward(page, 5)
    console = page.locator("#zk-console")
    lines = page.locator("#zk-console-lines")

    def run(op, path, data="", **flags):
        console.locator("select[name=op]").select_option(op)
        console.locator("input[name=path]").fill(path)
        console.locator("input[name=data]").fill(data)
        for flag in ("ephemeral", "sequential", "watch"):
            console.locator(f"input[name={flag}]").set_checked(flags.get(flag, False))
        console.get_by_role("button", name="Run").click()

    run("create", "/hello", "hi", ephemeral=True)
    expect(lines).to_contain_text("create: created /hello")
    expect(page.locator('#zk-tree-view .zk-tree.reference [data-path="/hello"]')).to_contain_text("ephemeral")
    run("create", "/hello", "again")
    expect(lines).to_contain_text("create: NodeExistsError (NODEEXISTS)")
    run("create", "/q/item-", sequential=True)
    expect(lines).to_contain_text("create: NoNodeError (NONODE)")
    run("create", "hello")
    expect(page.locator("#lab-notice")).to_contain_text("A znode path starts with")
    run("get", "/hello", watch=True)
    expect(lines).to_contain_text("get: “hi”")
    run("set", "/hello", "changed")
    expect(lines).to_contain_text("watch fired: CHANGED /hello")
    expect(page.locator("#lab-timeline")).to_contain_text("Your watch fired: CHANGED on /hello.")


def test_step_reaches_the_next_message_so_a_few_presses_show_the_first_vote(page, server_url):
    """After a kill, Step walks message by message (timers go off on the way, unshown): the
    pings in flight, the closed connections, then the first election vote."""
    open_lab(page, server_url, "leader-election")
    forward(page, 5)
    page.locator("#speed").select_option(label="0.1x")
    leader = leader_name(page)
    page.locator(f"#machine-{leader} circle").click()
    expect(page.locator(f"#machine-{leader}")).to_have_attribute("data-state", "down")
    seen = []
    for _ in range(20):
        seen.append(press_step(page))
        assert re.match(r"Stepped to [\d.]+ s: a \w+ from \w+ reaches \w+", seen[-1]), seen[-1]
        if "a Notification from" in seen[-1]:
            break
    assert "a Notification from" in seen[-1], seen
    assert not any("timer goes off" in line for line in seen), seen
    expect(page.locator("#lab-status")).to_have_attribute("data-playing", "false")


def press_step(page):
    """Press Step; the notice it answers with, once the frame of the moment it names came (the
    frame may arrive after the notice)."""
    notice = page.locator("#lab-notice")
    page.evaluate("document.getElementById('lab-notice').textContent = ''")
    page.locator("#btn-step").click()
    expect(notice).to_contain_text("Stepped to")
    said = notice.inner_text()
    stepped_to = round(float(re.search(r"Stepped to ([\d.]+) s", said).group(1)) * 1000)
    expect(page.locator("#lab-status")).to_have_attribute("data-now", str(stepped_to))
    return said


def step_until_the_clock_moves(page):
    """Press Step until virtual time moves (two events may share a millisecond: a killed
    leader's followers hear its connection close at the same moment)."""
    now = page.locator("#lab-status").get_attribute("data-now")
    for _ in range(20):
        press_step(page)
        if page.locator("#lab-status").get_attribute("data-now") != now:
            return
    raise AssertionError("20 steps and the clock did not move")


def test_two_viewers_stay_in_step_through_a_slow_failover(browser, page, server_url):
    open_lab(page, server_url, "leader-election")
    forward(page, 5)
    other = browser.new_context().new_page()  # a second browser watches the first one's lab
    other.goto(page.url)
    expect(other.locator("#connection")).to_have_text("live")
    leader = page.locator('.zk-server[data-role="leading"]').get_attribute("id")
    page.locator(f"#{leader} circle").click()
    page.locator("#speed").select_option(label="0.1x")
    expect(other.locator("#lab-status")).to_have_attribute("data-speed", "0.1")
    page.locator("#btn-pause").click()
    expect(other.locator("#lab-status")).to_have_attribute("data-playing", "false")
    for _ in range(3):
        step_until_the_clock_moves(page)
    stepped_to = page.locator("#lab-status").get_attribute("data-now")
    expect(other.locator("#lab-status")).to_have_attribute("data-now", stepped_to)
    expect(other.locator(f"#{leader}")).to_have_attribute("data-state", "down")
    other.context.close()


def test_the_znode_tree_shows_stats_flashes_changes_and_can_be_seen_from_a_lagging_server(page, server_url):
    open_lab(page, server_url, "master-election")
    forward(page, 5)
    view = page.locator("#zk-tree-view")
    master_ip = view.locator('.zk-tree.reference [data-path="/clusterx/master_ip"]')
    master_ip.locator("summary").click()
    stat = master_ip.locator("dl.stat")
    expect(stat).to_be_visible()
    expect(stat).to_contain_text("czxid")
    expect(stat).to_contain_text("ephemeralOwner")
    # a change flashes in the tree
    console = page.locator("#zk-console")
    console.locator("input[name=path]").fill("/fresh")
    console.get_by_role("button", name="Run").click()
    expect(view.locator('.zk-tree.reference [data-path="/fresh"]')).to_have_class(re.compile(r"\bfresh\b"))
    expect(stat).to_be_visible()  # a frame that changed the tree left the opened stat open
    # a follower cut off from the leader keeps an older tree, and the switch shows it (not the
    # follower the console's own session is on, since its writes must still reach the leader)
    leader = leader_name(page)
    mine = page.locator('#zk-sessions tr[data-client="you"] td').nth(2).inner_text()
    followers = page.locator('.zk-server[data-role="following"]')
    follower = next(name for name in (followers.nth(i).get_attribute("id").removeprefix("machine-")
                                      for i in range(followers.count())) if name != mine)
    page.locator(f"#link-{min(leader, follower)}-{max(leader, follower)} .hit").click(force=True)
    console.locator("input[name=path]").fill("/only-on-the-leader")
    console.get_by_role("button", name="Run").click()
    expect(view.locator('.zk-tree.reference [data-path="/only-on-the-leader"]')).to_be_visible()
    page.locator("#zk-tree-server").select_option(follower)
    shown = view.locator(f'.zk-tree[data-servers~="{follower}"]')
    expect(shown).to_be_visible()
    expect(shown).to_contain_text(f"The tree of {follower}")
    expect(shown.locator('[data-path="/only-on-the-leader"]')).to_have_count(0)
    expect(view.locator(".zk-tree.reference")).to_be_hidden()
    page.locator("#zk-tree-server").select_option("auto")
    expect(view.locator(".zk-tree.reference")).to_be_visible()


def event_time(page, kind, text):
    """The time (s) of the timeline's newest entry of ``kind`` containing ``text``."""
    entry = page.locator(f"#lab-timeline li.event-{kind}", has_text=text).first
    expect(entry).to_be_visible()
    return float(entry.locator("time").inner_text().removesuffix(" s"))


def leader_name(page):
    leader = page.locator('.zk-server[data-role="leading"]')
    expect(leader).to_have_count(1)
    return leader.get_attribute("id").removeprefix("machine-")


def fail_the_leader(page, how, notice, label):
    """Fail the leader as ``how`` ("crash" or "power_off", as the menu says), check its label and
    the notice, play 5 s; the seconds from its failure to a follower's giving up on it."""
    page.locator("#fail-how").select_option(how)
    leader = leader_name(page)
    page.locator(f"#machine-{leader} circle").click()
    expect(page.locator("#lab-notice")).to_have_text(notice.format(leader))
    expect(page.locator(f"#machine-{leader}")).to_have_attribute("data-failure", label)
    expect(page.locator(f"#machine-{leader}")).to_contain_text(label)
    forward(page, 5)
    failed = event_time(page, how, leader)
    return leader, event_time(page, "leader_lost", f"its leader {leader}") - failed


def test_a_killed_leader_is_noticed_at_once_and_a_powered_off_one_only_after_sync_limit(page, server_url):
    open_lab(page, server_url, "leader-election")  # (few machines: the timeline keeps the whole failover)
    forward(page, 5)
    page.locator("#btn-pause").click()
    expect(page.locator("#fail-how")).to_have_value("crash")
    killed, took = fail_the_leader(page, "crash", "Killed {}. Its connections closed at once.", "killed")
    assert 0 <= took < 0.5, "a follower hears the connection close within a message's time"
    expect(page.locator("#lab-timeline")).to_contain_text(f"connection to its leader {killed} closed")
    page.locator(f"#machine-{killed} circle").click()  # restart it, and let it rejoin
    forward(page, 5)
    silent, took = fail_the_leader(page, "power_off", "Powered {} off. It fell silent: only timeouts will tell.",
                                   "powered off")
    assert took >= 2.5, "syncLimit (5 ticks of 0.5 s) passes first"
    expect(page.locator("#lab-timeline")).to_contain_text(f"has not heard its leader {silent}")


def test_shift_click_does_the_other_kind_of_failure(page, server_url):
    open_lab(page, server_url, "master-election")
    page.locator("#btn-pause").click()
    page.locator("#machine-A1 rect").click(modifiers=["Shift"])
    expect(page.locator("#machine-A1")).to_have_attribute("data-failure", "powered off")
    expect(page.locator("#lab-timeline")).to_contain_text("A1 lost power")
    page.locator("#fail-how").select_option("power_off")
    page.locator("#machine-A2 rect").click(modifiers=["Shift"])
    expect(page.locator("#machine-A2")).to_have_attribute("data-failure", "killed")
    expect(page.locator("#lab-timeline")).to_contain_text("A2 was killed")


def test_the_console_acts_as_the_master_and_deletes_its_node_in_its_own_session(page, server_url):
    open_lab(page, server_url, "master-election")
    forward(page, 5)
    old = master_name(page)
    console = page.locator("#zk-console")
    console.locator("#zk-console-client").select_option(old)
    console.locator("select[name=op]").select_option("delete")
    console.locator("input[name=path]").fill("/clusterx/master_ip")
    console.get_by_role("button", name="Run").click()
    expect(page.locator("#lab-notice")).to_have_text(f"Sent as {old}: the answer appears in the console.")
    lines = page.locator("#zk-console-lines")
    expect(lines).to_contain_text(f"{old} (session 0x")
    forward(page, 5)
    expect(lines).to_contain_text(f"{old} delete: deleted")
    expect(page.locator("#lab-timeline")).to_contain_text("is the master now")
    expect(page.locator('.actor[data-role="master"]')).to_have_count(1)
