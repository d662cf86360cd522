"""Browser scenarios of the modeller (run by test_web.py with its `Ctx`): drawing a process with
a Slack Notification task from the palette, its form and the channel picker filled from the fake
Slack; saving (a deploy); the Request it starts followed to the message at the fake Slack and the
link in that message; a refused save with its markers and the draft that survives a reload."""

import json
import re
import time

from playwright.sync_api import expect

ALIAS = "acme"


def connect_workspace(ctx, alias):
    status, body = ctx.server.api(
        "POST", "/api/v1/integrations/slack", {"alias": alias, "bot_token": ctx.slack.TOKEN}
    )
    assert status in (200, 201), (status, body)


def set_field(page, selector, value):
    """Types into a panel field and commits it (the panel writes on `change`)."""
    page.fill(selector, value)
    page.press(selector, "Tab")


def select_element(page, element_id):
    # Towards its upper right: clear of its label below and of the context pad of a flow ending
    # at its left.
    hit = page.locator(f'#modeller .djs-element[data-element-id="{element_id}"] .djs-hit').first
    box = hit.bounding_box()
    at = {"x": box["width"] * 0.75, "y": box["height"] * 0.3}
    hit.click(position=at)
    if page.locator("#prop-id").input_value() != element_id:
        # Coming from a panel field, the first click may only give the canvas the focus.
        page.wait_for_timeout(200)
        if page.locator("#prop-id").input_value() != element_id:
            hit.click(position=at)
    expect(page.locator("#prop-id")).to_have_value(element_id)


def context_pad(page, action):
    page.click(f'#modeller .djs-context-pad [data-action="{action}"]')


def place_from_palette(page, action, dx, dy):
    """Picks a palette entry and drops the new shape at (dx, dy) inside the canvas."""
    page.click(f'#modeller .djs-palette [data-action="{action}"]')
    box = page.locator("#modeller").bounding_box()
    x, y = box["x"] + dx, box["y"] + dy
    page.mouse.move(x - 20, y)
    page.mouse.move(x, y)
    page.mouse.click(x, y)


def draw_review_then_notify(page):
    """Start → user task `review` → Slack Notification `notify` → end, with the mouse and the panel."""
    # The process (nothing selected): its key.
    expect(page.locator("#properties h3").first).to_have_text("Process")
    set_field(page, "#prop-id", "notify_flow")
    set_field(page, "#prop-name", "Notify after review")
    # A task appended to the start event, made a user task.
    select_element(page, "StartEvent_1")
    context_pad(page, "append.append-task")
    page.select_option("#prop-type", "bpmn:UserTask")
    expect(page.locator("#prop-candidate-groups")).to_be_visible()
    set_field(page, "#prop-id", "review")
    set_field(page, "#prop-name", "Review")
    # The Slack Notification task from the palette, dropped to the right.
    review = page.locator('#modeller .djs-element[data-element-id="review"]').bounding_box()
    canvas = page.locator("#modeller").bounding_box()
    place_from_palette(page, "create.slack-notification", review["x"] - canvas["x"] + 230, review["y"] - canvas["y"] + 230)

    expect(page.locator("#prop-connector")).to_have_value("slack-notification")
    set_field(page, "#prop-id", "notify")
    # Its form: the workspace, a channel picked from the fake Slack's list, the message.
    page.select_option("#integration-pick", ALIAS)
    expect(page.locator("#input-integration")).to_have_value(ALIAS)
    expect(page.locator("#channel-pick")).to_contain_text("#general")
    expect(page.locator("#channel-pick")).to_contain_text("🔒secret")
    page.select_option("#channel-pick", label="#general")
    expect(page.locator("#input-channel")).to_have_value("C0GENERAL")
    expect(page.locator("#input-channel-problem")).to_have_text("")
    set_field(page, "#input-message", "Reviewed for {{ customer }}: ")
    page.click("#input-message")
    page.keyboard.press("End")
    page.click('.insert-fields [data-field="request.url"]')
    expect(page.locator("#input-message")).to_have_value("Reviewed for {{ customer }}: {{ request.url }}")
    # Connect the review to it, and end after it.
    select_element(page, "review")
    context_pad(page, "connect")
    target = page.locator('#modeller .djs-element[data-element-id="notify"]').bounding_box()
    page.mouse.move(target["x"] + 30, target["y"] + 30)
    page.mouse.click(target["x"] + 40, target["y"] + 40)
    select_element(page, "notify")
    context_pad(page, "append.end-event")


def scenario_draw_a_slack_process_save_run_it_and_follow_the_slack_link(ctx):
    connect_workspace(ctx, ALIAS)
    page = ctx.signed_in("/modeller")
    draw_review_then_notify(page)
    ctx.shot(page, "modeller-slack-form")
    # The draft follows every change (the model XML only).
    draft = page.evaluate("localStorage.getItem('sluice.draft.new')")
    assert draft and "slack-notification" in json.loads(draft)["xml"], draft
    page.click("#save")
    expect(page.locator("#saved")).to_contain_text("notify_flow v1")
    expect(page).to_have_url(ctx.server.base + "/modeller/notify_flow")
    assert page.evaluate("Object.keys(localStorage).length") == 0
    # What was deployed is plain BPMN with the sluice: extension.
    status, detail = ctx.server.api("GET", "/api/v1/processes/notify_flow")
    assert status == 200, detail
    xml = detail["xml"]
    assert 'xmlns:sluice="urn:sluice:bpmn:1"' in xml, xml
    assert 'implementation="slack-notification"' in xml, xml
    assert '<sluice:input name="channel" value="C0GENERAL"' in xml, xml
    assert '<sluice:input name="integration" value="acme"' in xml, xml
    assert "<bpmn:userTask" in xml and 'sourceRef="review" targetRef="notify"' in xml, xml

    # A Request: its token waits on the review.
    rid = ctx.server.start("notify_flow", {"customer": "Acme Ltd"})["id"]
    page.goto(f"{ctx.server.base}/requests/{rid}")
    expect(page.locator('#request-diagram .badge-token[data-element="review"]')).to_contain_text("1 waiting")
    ctx.shot(page, "modeller-request-waiting")
    # The process's page counts it on its element, and lists it under the filter that fits.
    counts = page.context.new_page()
    counts.goto(f"{ctx.server.base}/processes/notify_flow")
    expect(counts.locator('#process-diagram .counts[data-element="review"] .count-active')).to_have_text("1")
    expect(counts.locator("#counts-note")).to_contain_text("1 active token(s), 0 open incident(s)")
    expect(counts.locator("#requests")).to_contain_text(rid)
    counts.select_option("#filter-status", "completed")
    expect(counts.locator("#requests")).not_to_contain_text(rid)
    counts.select_option("#filter-status", "active")
    expect(counts.locator("#requests")).to_contain_text(rid)
    ctx.shot(counts, "process-counts")
    counts.close()
    inbox = page.context.new_page()
    inbox.goto(f"{ctx.server.base}/tasks")
    card = inbox.locator('article.task[data-element="review"]')
    card.locator("textarea").fill("{}")
    card.locator("button.complete").click()
    expect(page.locator("#status")).to_have_text("completed")
    # The message arrived at the fake Slack, with the Request's link.
    deadline = time.time() + 15
    while True:
        texts = [m.get("text", "") for m in ctx.slack.messages("C0GENERAL")]
        mine = [t for t in texts if "Acme Ltd" in t]
        if mine:
            break
        assert time.time() < deadline, f"no message at the fake Slack: {texts}"
        time.sleep(0.2)
    link = re.search(r"https?://[^\s|>]+/requests/[0-9a-f-]+", mine[0])
    assert link and link.group(0).endswith(rid), mine[0]
    # The link opens the Request's page (here already signed in).
    slack_page = ctx.signed_in("/processes")
    slack_page.goto(link.group(0))
    expect(slack_page.locator("#status")).to_have_text("completed")
    expect(slack_page.locator('#request-diagram .djs-element[data-element-id="notify"]')).to_have_count(1)
    ctx.shot(slack_page, "request-from-slack-link")

    # Opened again, the deployed version edits into a new one: the form shows what was saved.
    page.goto(f"{ctx.server.base}/processes/notify_flow")
    page.click("#edit")
    expect(page).to_have_url(ctx.server.base + "/modeller/notify_flow")
    select_element(page, "notify")
    expect(page.locator("#input-channel")).to_have_value("C0GENERAL")
    expect(page.locator("#channel-pick")).to_have_value("C0GENERAL")
    page.click("#channel-refresh")
    expect(page.locator("#channel-pick")).to_contain_text("#sales")
    page.select_option("#channel-pick", label="#sales")
    page.click("#save")
    expect(page.locator("#saved")).to_contain_text("notify_flow v2")
    status, v2 = ctx.server.api("GET", "/api/v1/processes/notify_flow")
    assert '<sluice:input name="channel" value="C0SALES"' in v2["xml"], v2["xml"]
    assert "Reviewed for {{ customer }}" in v2["xml"], v2["xml"]


def scenario_a_refused_save_marks_the_diagram_and_the_draft_survives_a_reload(ctx):
    page = ctx.signed_in("/modeller")
    page.evaluate("localStorage.clear()")
    set_field(page, "#prop-id", "half_drawn")
    # A Slack task with no channel and no message, on its own.
    place_from_palette(page, "create.slack-notification", 420, 180)
    set_field(page, "#prop-id", "unfinished")
    expect(page.locator("#input-channel-problem")).to_have_text("required")
    page.click("#save")
    expect(page.locator("#save-status .error")).to_contain_text("Not deployed")
    expect(page.locator("#diagnostics")).to_contain_text("unfinished")
    expect(page.locator('#modeller .djs-element.diag-error[data-element-id="unfinished"]')).to_have_count(1)
    expect(page.locator('#modeller .badge-error[data-element="unfinished"]')).to_have_count(1)
    ctx.shot(page, "modeller-refused")
    # Nothing is lost: the page opened again shows the draft.
    page.reload()
    expect(page.locator("#draft-restored")).to_be_visible()
    expect(page.locator('#modeller .djs-element[data-element-id="unfinished"]')).to_have_count(1)
    page.click("#discard-draft")
    expect(page.locator("#draft-restored")).to_have_count(0)
    expect(page.locator('#modeller .djs-element[data-element-id="unfinished"]')).to_have_count(0)
    assert page.evaluate("localStorage.getItem('sluice.draft.new')") is None


ROUTED = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="urn:sluice:test">
  <bpmn:process id="routed" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def scenario_slack_settings_connect_by_token_and_route_with_a_bad_channel(ctx):
    ctx.server.deploy(ROUTED)
    page = ctx.signed_in("/settings/slack")
    expect(page.locator("#slack-app")).to_be_visible()
    # A refused token is shown next to the token field.
    page.fill("#connect-alias", "ops")
    page.fill("#connect-token", "xoxb-not-a-token-slack-knows")
    page.click("#connect-token-button")
    expect(page.locator('#connect-form .field-problem[data-field="bot_token"]')).not_to_be_empty()
    # The right token connects; the workspace is listed, healthy.
    page.fill("#connect-token", ctx.slack.TOKEN)
    page.click("#connect-token-button")
    row = page.locator('#workspaces tr[data-alias="ops"]')
    expect(row).to_contain_text("Sluice Test")
    expect(row.locator(".health")).to_contain_text("connected")
    ctx.shot(page, "slack-settings")
    # Routing for a process: one channel picked from the list, one that does not exist.
    page.select_option("#routing-process", "routed")
    page.select_option("#routing-integration", "ops")
    started = page.locator('.event[data-event="request_started"]')
    started.locator(".add-channel").click()
    started.locator(".channel-pick").first.select_option(label="#general")
    expect(started.locator("input.channel").first).to_have_value("C0GENERAL")
    started.locator(".add-channel").click()
    started.locator("input.channel").nth(1).fill("C0NOSUCH")
    page.click("#routing-save")
    bad = started.locator(".channel-row").nth(1).locator(".field-problem")
    expect(bad).not_to_be_empty()
    expect(started.locator(".channel-row").first.locator(".field-problem")).to_be_empty()
    expect(page.locator("#routing-status")).to_contain_text("Not saved")
    ctx.shot(page, "slack-settings-bad-channel")
    # Without it, the settings save, with a direct message for one person's tasks and a text
    # for the started event.
    started.locator(".channel-row").nth(1).get_by_role("button", name="Remove").click()
    page.select_option("#routing-direct-message", "also")
    page.fill("#template-request_started", "Amount: {{ amount }}")
    page.click("#routing-save")
    expect(page.locator("#routing-saved")).to_be_visible()
    status, saved = ctx.server.api("GET", "/api/v1/processes/routed/notifications")
    assert status == 200 and saved["events"]["request_started"] == ["C0GENERAL"], saved
    assert saved["direct_message"] == "also", saved
    assert saved["templates"] == {"request_started": "Amount: {{ amount }}"}, saved
    # Opened again, the form shows what was saved.
    page.select_option("#routing-process", "")
    page.select_option("#routing-process", "routed")
    expect(page.locator("#routing-direct-message")).to_have_value("also")
    expect(page.locator("#template-request_started")).to_have_value("Amount: {{ amount }}")
    # Removing a workspace still in use is refused with the processes, unless forced.
    row.locator("button.remove").click()
    expect(row.locator(".remove-problem")).to_contain_text("routed")
    row.locator(".force-remove").click()
    expect(page.locator('#workspaces tr[data-alias="ops"]')).to_have_count(0)


# Written by another tool: no diagram, Camunda's own extension next to Sluice's.
FOREIGN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="urn:sluice:test">
  <bpmn:process id="foreign" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="ask"/>
    <bpmn:userTask id="ask" name="Ask" camunda:assignee="ann">
      <bpmn:extensionElements><camunda:properties><camunda:property name="k" value="v"/></camunda:properties></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="ask" targetRef="call"/>
    <bpmn:serviceTask id="call" name="Call" implementation="http">
      <bpmn:extensionElements><sluice:input name="url" value="http://127.0.0.1:9/check"/><sluice:input name="body">line one
line two</sluice:input></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f3" sourceRef="call" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def scenario_a_model_without_a_diagram_opens_laid_out_and_keeps_what_it_does_not_edit(ctx):
    ctx.server.deploy(FOREIGN)
    page = ctx.signed_in("/modeller/foreign")
    expect(page.locator('#modeller .djs-element[data-element-id="call"]')).to_have_count(1)
    select_element(page, "call")
    expect(page.locator("#input-url")).to_have_value("http://127.0.0.1:9/check")
    expect(page.locator("#input-body")).to_have_value("line one\nline two")
    set_field(page, "#input-url", "http://127.0.0.1:9/other")
    select_element(page, "ask")
    set_field(page, "#prop-name", "Ask again")
    page.click("#save")
    expect(page.locator("#saved")).to_contain_text("foreign v2")
    status, v2 = ctx.server.api("GET", "/api/v1/processes/foreign")
    xml = v2["xml"]
    assert 'camunda:assignee="ann"' in xml and '<camunda:property name="k" value="v"' in xml, xml
    assert '<sluice:input name="url" value="http://127.0.0.1:9/other"' in xml, xml
    assert "line one\nline two</sluice:input>" in xml, xml
    assert 'name="Ask again"' in xml and "<bpmndi:BPMNShape" in xml, xml


# A start form, a task form, a condition and a result variable: the data paths a Slack message
# may insert.
DATA_PATHS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="urn:sluice:test">
  <bpmn:process id="paths" isExecutable="true">
    <bpmn:startEvent id="start">
      <bpmn:extensionElements><camunda:formData><camunda:formField id="amount" type="long"/></camunda:formData></bpmn:extensionElements>
    </bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <bpmn:userTask id="review" name="Review">
      <bpmn:extensionElements><sluice:form><sluice:field id="reason" label="Reason" required="true"/><sluice:field id="size" type="enum" default="m"><sluice:value id="m" name="Medium"/></sluice:field></sluice:form></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="big"/>
    <bpmn:exclusiveGateway id="big" default="f4"/>
    <bpmn:sequenceFlow id="f3" sourceRef="big" targetRef="notify">
      <bpmn:conditionExpression>amount &gt; 1000 and customer.tier = "gold"</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="big" targetRef="end"/>
    <bpmn:serviceTask id="notify" name="Notify" implementation="slack-notification" sluice:resultVariable="posted">
      <bpmn:extensionElements><sluice:input name="channel" value="C0GENERAL"/><sluice:input name="message" value="Big: "/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f5" sourceRef="notify" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def scenario_a_slack_message_offers_the_data_paths_the_model_uses(ctx):
    ctx.server.deploy(DATA_PATHS)
    page = ctx.signed_in("/modeller/paths")
    expect(page.locator('#modeller .djs-element[data-element-id="notify"]')).to_have_count(1)
    select_element(page, "notify")
    chips = page.locator(".insert-fields .data-path")
    expect(chips).to_have_text(["amount", "customer.tier", "posted", "reason", "size"])
    expect(page.locator('.insert-fields [data-field="request.url"]')).to_have_count(1)
    page.click("#input-message")
    page.keyboard.press("End")
    page.click('.insert-fields .data-path[data-field="amount"]')
    expect(page.locator("#input-message")).to_have_value("Big: {{ amount }}")
    ctx.shot(page, "modeller-data-paths")
    # Saved, the model keeps its Sluice form as it was written.
    page.click("#save")
    expect(page.locator("#saved")).to_contain_text("paths v2")
    status, v2 = ctx.server.api("GET", "/api/v1/processes/paths")
    xml = v2["xml"]
    assert '<sluice:field id="reason" label="Reason" required="true"' in xml, xml
    assert '<sluice:value id="m" name="Medium"' in xml, xml
    assert '<sluice:input name="message" value="Big: {{ amount }}"' in xml, xml


SLUICE_NS = "urn:sluice:bpmn:1"


def sluice_parts(xml):
    """What a model says in Sluice's namespace: (element id, attribute, value) for every
    `sluice:` attribute, and (element id, the extension element as canonical text) for every
    `sluice:` element, with the id of the BPMN element they belong to."""
    import xml.etree.ElementTree as ET

    found = set()

    def walk(node, owner):
        owner = node.get("id", owner)
        for name, value in node.attrib.items():
            if name.startswith("{" + SLUICE_NS + "}"):
                found.add((owner, name, value))
        for child in node:
            if child.tag.startswith("{" + SLUICE_NS + "}"):
                found.add((owner, ET.tostring(child, encoding="unicode").strip()))
            else:
                walk(child, owner)

    walk(ET.fromstring(xml.encode()), None)
    return found


def scenario_what_the_modeller_writes_goes_through_camunda_modeler_and_back(ctx):
    """Camunda Modeler is bpmn-js with Camunda's own extension, and it does not know `sluice:`.
    A model saved by Sluice's modeller goes through bpmn-js without Sluice's extension (import,
    an edit, export, as Camunda Modeler does), and every `sluice:` attribute and element comes
    back unchanged; the result deploys and runs."""
    # A key of its own: the scenarios share one server.
    ctx.server.deploy(DATA_PATHS.replace('<bpmn:process id="paths"', '<bpmn:process id="roundtrip"'))
    page = ctx.signed_in("/modeller/roundtrip")
    select_element(page, "review")
    set_field(page, "#prop-name", "Review it")
    page.click("#save")
    expect(page.locator("#saved")).to_contain_text("roundtrip v2")
    status, v2 = ctx.server.api("GET", "/api/v1/processes/roundtrip")
    assert status == 200, v2
    written = v2["xml"]
    ours = sluice_parts(written)
    assert any(len(p) == 3 and p[1].endswith("resultVariable") for p in ours), ours
    assert any(len(p) == 2 and "field" in p[1] for p in ours), ours

    # The plain modeller of the same pinned bpmn-js, served by Sluice, without Sluice's moddle.
    page.goto(ctx.server.base + "/processes")
    viewer = page.locator('script[src*="bpmn-navigated-viewer"]').get_attribute("src")
    page.add_script_tag(url=viewer.replace("bpmn-navigated-viewer", "bpmn-modeler"))
    back = page.evaluate(
        """async (xml) => {
            const div = document.createElement('div');
            div.style.width = '800px';
            div.style.height = '600px';
            document.body.appendChild(div);
            const modeler = new window.BpmnJS({ container: div });
            const { warnings } = await modeler.importXML(xml);
            // An edit, as a person in Camunda Modeler would make one.
            const registry = modeler.get('elementRegistry');
            modeler.get('modeling').updateProperties(registry.get('notify'), { name: 'Notify the team' });
            const { xml: out } = await modeler.saveXML({ format: true });
            return { out, warnings: warnings.map((w) => w.message) };
        }""",
        written,
    )
    assert back["warnings"] == [], back["warnings"]
    out = back["out"]
    assert 'name="Notify the team"' in out, out
    differing = sorted(map(str, ours ^ sluice_parts(out)))
    assert not differing, (differing, out)

    # Back in Sluice: it deploys as the next version and runs the same way.
    status, body = ctx.server.api("POST", "/api/v1/processes", out, content_type="application/xml")
    assert status in (200, 201), (status, body)
    assert [(p["key"], p["version"]) for p in body["processes"]] == [("roundtrip", 3)], body
    request = ctx.server.start("roundtrip", {"amount": 5, "customer": {"tier": "gold"}})
    status, tasks = ctx.server.api("GET", f"/api/v1/tasks?request={request['id']}")
    assert status == 200, tasks
    assert [t["element_id"] for t in tasks["tasks"]] == ["review"], tasks
