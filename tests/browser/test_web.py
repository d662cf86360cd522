"""Browser tests of the web app: a real `sluice serve`, Debian's Chromium driven by Playwright.

Run by .ci/browser.sh (`python tests/browser/test_web.py SLUICE_BINARY FAKE_SLACK_BINARY`). Each
scenario is a function `scenario_*` (here and in modeller_scenarios.py); the last line counts them
like a cargo test result. Screenshots of every page go to $SLUICE_SCREENSHOTS (default:
target/screenshots in the clone). SLUICE_BROWSER_ONLY=WORD runs the scenarios whose name has WORD.
"""

import os
import re
import sys
import tempfile
import time
import traceback
import uuid

from playwright.sync_api import expect, sync_playwright

import modeller_scenarios
from harness import ADMIN, CHROMIUM, PASSWORD, FakeSlack, Server, switch_service
from oidc_provider import Provider

SHOTS = os.environ.get("SLUICE_SCREENSHOTS") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "target", "screenshots"
)
TIMEOUT_MS = 15_000

DI_NS = (
    'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
    'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:di="http://www.omg.org/spec/DD/20100524/DI"'
)

# A user task between a start and an end event, with its diagram.
APPROVAL = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" {DI_NS} id="defs" targetNamespace="urn:sluice:test">
  <bpmn:process id="approval" name="Approval" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="approve"/>
    <bpmn:userTask id="approve" name="Approve"/>
    <bpmn:sequenceFlow id="f2" sourceRef="approve" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="diagram">
    <bpmndi:BPMNPlane id="plane" bpmnElement="approval">
      <bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="100" y="100" width="36" height="36"/></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="approve_di" bpmnElement="approve"><dc:Bounds x="200" y="78" width="100" height="80"/></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_di" bpmnElement="end"><dc:Bounds x="370" y="100" width="36" height="36"/></bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="f1_di" bpmnElement="f1"><di:waypoint x="136" y="118"/><di:waypoint x="200" y="118"/></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f2_di" bpmnElement="f2"><di:waypoint x="300" y="118"/><di:waypoint x="370" y="118"/></bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""

# A timer whose duration is no ISO 8601 duration (and no diagram: it is laid out).
INVALID = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="urn:sluice:test">
  <bpmn:process id="broken" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait" name="Wait">
      <bpmn:timerEventDefinition><bpmn:timeDuration>not a duration</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


# A parent process whose call activity starts the child process (both in one file, no diagram).
FAMILY = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="urn:sluice:test">
  <bpmn:process id="kid" isExecutable="true">
    <bpmn:startEvent id="kid_start"/>
    <bpmn:sequenceFlow id="k1" sourceRef="kid_start" targetRef="kid_task"/>
    <bpmn:userTask id="kid_task" name="Child work"/>
    <bpmn:sequenceFlow id="k2" sourceRef="kid_task" targetRef="kid_end"/>
    <bpmn:endEvent id="kid_end"/>
  </bpmn:process>
  <bpmn:process id="family" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="call_kid"/>
    <bpmn:callActivity id="call_kid" name="Run the child" calledElement="kid"/>
    <bpmn:sequenceFlow id="f2" sourceRef="call_kid" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


# Review (a Camunda 7 form of typed fields, for candidate users) then an approval (a Sluice form,
# assigned), then a gateway on `approved`. No diagram: laid out by the page.
WORK = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:sluice="urn:sluice:bpmn:1" id="d" targetNamespace="urn:sluice:test">
  <bpmn:process id="work" name="Work" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <bpmn:userTask id="review" name="Review the order" camunda:candidateUsers="webadmin, bob">
      <bpmn:documentation>Check the amount against the quote.</bpmn:documentation>
      <bpmn:extensionElements>
        <camunda:formData>
          <camunda:formField id="amount" label="Amount" type="long">
            <camunda:validation><camunda:constraint name="required"/></camunda:validation>
          </camunda:formField>
          <camunda:formField id="note" label="Note" type="string" defaultValue="none"/>
          <camunda:formField id="size" label="Size" type="enum" defaultValue="m">
            <camunda:value id="s" name="Small"/><camunda:value id="m" name="Medium"/><camunda:value id="l" name="Large"/>
          </camunda:formField>
          <camunda:formField id="urgent" label="Urgent" type="boolean"/>
          <camunda:formField id="ship" label="Ship on" type="date"/>
        </camunda:formData>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="decide"/>
    <bpmn:userTask id="decide" name="Decide" camunda:assignee="webadmin">
      <bpmn:extensionElements>
        <sluice:form approval="true"><sluice:field id="reason" label="Reason" type="string"/></sluice:form>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f3" sourceRef="decide" targetRef="gw"/>
    <bpmn:exclusiveGateway id="gw"/>
    <bpmn:sequenceFlow id="f_yes" sourceRef="gw" targetRef="done"><bpmn:conditionExpression>= approved</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_no" sourceRef="gw" targetRef="refused"><bpmn:conditionExpression>= not(approved)</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:endEvent id="done"/>
    <bpmn:endEvent id="refused"/>
  </bpmn:process>
</bpmn:definitions>
"""


def calling(url):
    """An HTTP connector task calling `url`, written without a diagram (laid out by the page)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1" id="d" targetNamespace="urn:sluice:test">
  <bpmn:process id="lookup" name="Lookup" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="call"/>
    <bpmn:serviceTask id="call" name="Ask the service" implementation="http">
      <bpmn:extensionElements><sluice:input name="url" value="{url}/check"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="call" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


class Ctx:
    def __init__(self, server, browser, slack):
        self.server = server
        self.browser = browser
        self.slack = slack
        self.csp_violations = []

    def page(self):
        """A new page of a new browser context (no cookies)."""
        context = self.browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("console", lambda m: self._console(m.text))
        page.on("pageerror", lambda e: self.csp_violations.append(f"page error: {e}"))
        return page

    def _console(self, text):
        if "Content Security Policy" in text or "Refused to" in text:
            self.csp_violations.append(text)

    def signed_in(self, next_path="/processes"):
        page = self.page()
        page.goto(self.server.base + next_path)
        expect(page).to_have_url(re.compile(r"/login\?next="))
        page.fill("#username", ADMIN)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        expect(page).to_have_url(self.server.base + next_path)
        return page

    def page_of(self, page):
        """Another page in the same browser context (signed in as `page` is)."""
        other = page.context.new_page()
        other.set_default_timeout(TIMEOUT_MS)
        other.on("console", lambda m: self._console(m.text))
        other.on("pageerror", lambda e: self.csp_violations.append(f"page error: {e}"))
        return other

    def shot(self, page, name):
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def scenario_a_page_without_a_session_goes_to_the_sign_in_page(ctx):
    page = ctx.page()
    rid = str(uuid.uuid4())
    page.goto(f"{ctx.server.base}/requests/{rid}")
    expect(page).to_have_url(f"{ctx.server.base}/login?next=%2Frequests%2F{rid}")
    expect(page.locator("#login-form")).to_be_visible()
    ctx.shot(page, "login")
    # A wrong password is refused on the page.
    page.fill("#username", ADMIN)
    page.fill("#password", "not the password at all")
    page.click("button[type=submit]")
    expect(page.locator("#login-error .error")).to_contain_text("wrong username or password")
    # An address of another site as `next` is not followed.
    page.goto(f"{ctx.server.base}/login?next=//evil.example/x")
    page.fill("#username", ADMIN)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{ctx.server.base}/processes")


def scenario_sign_in_and_sign_out(ctx):
    page = ctx.signed_in("/tasks")
    expect(page.locator("#who .username")).to_have_text(ADMIN)
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["sluice_session"]["httpOnly"], cookies
    # The app keeps no token in storage.
    assert page.evaluate("Object.keys(localStorage).length + Object.keys(sessionStorage).length") == 0
    # Signed in, the sign-in page goes straight on to `next` (a link from another site, such as
    # Slack's, arrives without the SameSite=Strict cookie and is sent there first).
    page.goto(f"{ctx.server.base}/login?next=%2Fprocesses")
    expect(page).to_have_url(f"{ctx.server.base}/processes")
    page.click("#sign-out")
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto(f"{ctx.server.base}/tasks")
    expect(page).to_have_url(f"{ctx.server.base}/login?next=%2Ftasks")


def scenario_sign_in_with_the_identity_provider(ctx):
    provider = Provider("sluice-web", "web-client-secret", {
        "sub": "subject-quinn", "preferred_username": "quinn", "email": "quinn@corp.example",
        "email_verified": True, "name": "Quinn Q", "groups": ["finance"],
    })
    try:
        status, body = ctx.server.api("PUT", "/api/v1/auth/oidc", {
            "discovery_url": provider.base, "client_id": "sluice-web", "client_secret": "web-client-secret",
            "groups_claim": "groups", "name": "Test IdP",
        })
        assert status == 200, body
        page = ctx.page()
        page.goto(ctx.server.base + "/tasks")
        expect(page).to_have_url(re.compile(r"/login\?next="))
        page.click("#oidc-sign-in")
        # To the provider (another site), straight back, and on to the page asked for, signed in.
        expect(page).to_have_url(ctx.server.base + "/tasks")
        me = page.evaluate("fetch('/api/v1/me').then(r => r.json())")
        assert (me["username"], me["groups"], me["roles"]) == ("quinn", ["finance"], ["participant"]), me
        ctx.shot(page, "oidc-signed-in")
        # A refused sign-in comes back to the sign-in page, which says why.
        page = ctx.page()
        page.goto(ctx.server.base + "/login?oidc_error=invalid_id_token")
        expect(page.locator("#login-error .error")).to_contain_text("could not be verified")
    finally:
        ctx.server.api("DELETE", "/api/v1/auth/oidc")
        provider.stop()


def upload(page, name, xml):
    path = os.path.join(tempfile.mkdtemp(prefix="sluice-upload-"), name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(xml)
    page.set_input_files("#deploy-file", path)


def scenario_an_invalid_model_shows_its_diagnostics_and_markers(ctx):
    page = ctx.signed_in("/processes")
    upload(page, "broken.bpmn", INVALID)
    item = page.locator("#diagnostics li").first
    expect(item).to_contain_text("line 7, column")
    expect(item).to_contain_text("invalid-timer")
    expect(item).to_contain_text("wait")
    # The diagram is laid out (no BPMNDI) and the element is marked.
    expect(page.locator('#diagnostics-diagram .djs-element.diag-error[data-element-id="wait"]')).to_have_count(1)
    expect(page.locator("#diagnostics-diagram .badge-error")).to_have_count(1)
    ctx.shot(page, "deploy-diagnostics")


def scenario_deploy_follow_a_request_and_complete_its_task_from_the_inbox(ctx):
    page = ctx.signed_in("/processes")
    upload(page, "approval.bpmn", APPROVAL)
    expect(page.locator("#deployed")).to_contain_text("approval v1")
    expect(page.locator("#process-list")).to_contain_text("approval")
    ctx.shot(page, "processes")
    request = ctx.server.start("approval", {"amount": 120})
    rid = request["id"]
    page.goto(f"{ctx.server.base}/requests/{rid}")
    expect(page.locator("#status")).to_have_text("active")
    token = page.locator('#request-diagram .badge-token[data-element="approve"]')
    expect(token).to_contain_text("1 waiting")
    expect(page.locator('#request-diagram .djs-element.el-token-waiting[data-element-id="approve"]')).to_have_count(1)
    expect(page.locator("#tasks")).to_contain_text("Approve")
    expect(page.locator("#data")).to_contain_text('"amount": 120')
    expect(page.locator("#timeline")).to_contain_text("task created")
    ctx.shot(page, "request-waiting")
    # The inbox completes the task with data.
    inbox = page.context.new_page()
    inbox.goto(f"{ctx.server.base}/tasks")
    card = inbox.locator('article.task[data-element="approve"]')
    expect(card).to_have_count(1)
    ctx.shot(inbox, "tasks")
    card.locator("textarea").fill('{"approved": true}')
    card.locator("button.complete").click()
    expect(inbox.locator("#no-tasks")).to_be_visible()
    # The Request's page, still open, follows the Request to its end.
    expect(page.locator("#status")).to_have_text("completed")
    expect(page.locator("#data")).to_contain_text('"approved": true')
    expect(page.locator('#request-diagram .badge-token')).to_have_count(0)
    ctx.shot(page, "request-completed")
    # A second version, deployed by dropping its file on the page.
    page.goto(f"{ctx.server.base}/processes")
    v2 = APPROVAL.replace('name="Approve"', 'name="Approve it"')
    dropped = page.evaluate_handle(
        """(xml) => { const dt = new DataTransfer();
            dt.items.add(new File([xml], 'approval-v2.bpmn', { type: 'application/xml' })); return dt; }""",
        v2,
    )
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": dropped})
    expect(page.locator("#deployed")).to_contain_text("approval v2")
    # The process page: versions, the XML of each and its download.
    page.goto(f"{ctx.server.base}/processes/approval")
    expect(page.locator("#xml-text")).to_contain_text('name="Approve it"')
    expect(page.locator("#download")).to_have_attribute("download", "approval-v2.bpmn")
    page.select_option("#version", "1")
    expect(page.locator("#xml-text")).to_contain_text('<bpmn:userTask id="approve" name="Approve"/>')
    expect(page.locator("#download")).to_have_attribute("download", "approval-v1.bpmn")
    expect(page.locator("#requests")).to_contain_text(rid)
    expect(page.locator('#process-diagram .djs-element[data-element-id="approve"]')).to_have_count(1)
    ctx.shot(page, "process")


def scenario_an_incident_is_shown_on_its_element_and_retried_from_the_page(ctx):
    url, service, httpd = switch_service()
    try:
        ctx.server.deploy(calling(url))
        rid = ctx.server.start("lookup")["id"]
        deadline = time.time() + 15
        while ctx.server.api("GET", f"/api/v1/requests/{rid}")[1]["status"] != "error":
            assert time.time() < deadline, "the Request did not reach an incident"
            time.sleep(0.2)
        page = ctx.signed_in(f"/requests/{rid}")
        expect(page.locator("#status")).to_have_text("error")
        overlay = page.locator('#request-diagram .incident-overlay[data-element="call"]')
        expect(overlay).to_contain_text("404")
        expect(page.locator('#request-diagram .djs-element.el-incident[data-element-id="call"]')).to_have_count(1)
        expect(page.locator("#request-diagram .note")).to_contain_text("laid out automatically")
        ctx.shot(page, "request-incident")
        # The process's page counts the incident on its element.
        counts = page.context.new_page()
        counts.goto(f"{ctx.server.base}/processes/lookup")
        expect(counts.locator('#process-diagram .counts[data-element="call"] .count-incidents')).to_have_text("1")
        expect(counts.locator('#process-diagram .djs-element.el-incident[data-element-id="call"]')).to_have_count(1)
        ctx.shot(counts, "process-incident-counts")
        counts.close()
        service.ok = True
        overlay.locator("button.retry-overlay").click()
        expect(page.locator("#status")).to_have_text("completed")
        expect(page.locator("#request-diagram .incident-overlay")).to_have_count(0)
        expect(page.locator("#timeline")).to_contain_text("incident resolved")
        assert service.calls >= 2, service.calls
        ctx.shot(page, "request-retried")
    finally:
        httpd.shutdown()


def scenario_a_request_links_to_its_parent_and_children(ctx):
    ctx.server.deploy(FAMILY)
    parent = ctx.server.start("family")["id"]
    page = ctx.signed_in(f"/requests/{parent}")
    expect(page.locator('#request-diagram .badge-token[data-element="call_kid"]')).to_contain_text("1 waiting")
    child_link = page.locator("#family table a").first
    expect(child_link).to_be_visible()
    child_link.click()
    expect(page.locator("h1")).not_to_contain_text(parent)
    expect(page.locator("#parent")).to_have_text(parent)
    expect(page.locator('#request-diagram .badge-token[data-element="kid_task"]')).to_contain_text("1 waiting")
    ctx.shot(page, "request-child")
    # Cancel, once confirmed, ends the child Request.
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#cancel")
    expect(page.locator("#status")).to_have_text("canceled")
    expect(page.locator("#cancel")).to_have_count(0)


# A DMN file with one small decision table (no BPMN in it).
SHIPPING_DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="shipping_decisions" name="Shipping" namespace="urn:sluice:test">
  <decision id="shipping_fee" name="Shipping fee">
    <decisionTable id="shipping_table" hitPolicy="UNIQUE">
      <input id="weight_input" label="Weight">
        <inputExpression id="weight_expression" typeRef="number"><text>weight</text></inputExpression>
      </input>
      <output id="fee_output" label="Fee" name="fee" typeRef="number"/>
      <rule id="light"><inputEntry id="light_weight"><text>&lt; 10</text></inputEntry><outputEntry id="light_fee"><text>5</text></outputEntry></rule>
      <rule id="heavy"><inputEntry id="heavy_weight"><text>&gt;= 10</text></inputEntry><outputEntry id="heavy_fee"><text>20</text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>
"""


def scenario_the_request_list_filters_by_data_started_by_and_version(ctx):
    ctx.server.deploy(APPROVAL.replace('id="approval"', 'id="filtered"').replace('bpmnElement="approval"', 'bpmnElement="filtered"'))
    small = ctx.server.start("filtered", {"amount": 50, "customer": {"name": "Acme"}})["id"]
    large = ctx.server.start("filtered", {"amount": 5000, "customer": {"name": "Bolt"}})["id"]
    page = ctx.signed_in("/processes/filtered")
    requests = page.locator("#requests")
    expect(requests).to_contain_text(small)
    expect(requests).to_contain_text(large)
    # A data condition the API applies: amount >= 1000 keeps only the large one.
    page.fill("#filter-data-path", "amount")
    page.select_option("#filter-data-op", ">=")
    page.fill("#filter-data-value", "1000")
    page.click("#filter-apply")
    expect(requests).not_to_contain_text(small)
    expect(requests.locator("tbody tr")).to_have_count(1)
    expect(requests).to_contain_text(large)
    # `<` carries its value in the parameter's name; a nested path with `=`.
    page.select_option("#filter-data-op", "<")
    page.click("#filter-apply")
    expect(requests).not_to_contain_text(large)
    expect(requests).to_contain_text(small)
    page.fill("#filter-data-path", "customer.name")
    page.select_option("#filter-data-op", "=")
    page.fill("#filter-data-value", "Bolt")
    page.click("#filter-apply")
    expect(requests).not_to_contain_text(small)
    expect(requests).to_contain_text(large)
    ctx.shot(page, "process-requests-filtered")
    # Started by someone else: none; by whoever started both (the API token's user): the one
    # the data keeps.
    page.fill("#filter-started-by", "nobody-else")
    page.click("#filter-apply")
    expect(requests).to_contain_text("None.")
    status, started = ctx.server.api("GET", f"/api/v1/requests/{large}")
    assert status == 200 and started["started_by"], started
    page.fill("#filter-started-by", started["started_by"])
    page.click("#filter-apply")
    expect(requests).to_contain_text(large)
    expect(requests).not_to_contain_text(small)
    # Created before a date long past: none.
    page.fill("#filter-created-before", "2001-01-01T00:00")
    page.click("#filter-apply")
    expect(requests).to_contain_text("None.")
    # Cleared, then only the version shown (v1 holds both; the API filters by version=1).
    page.click("#filter-clear")
    expect(requests.locator("tbody tr")).to_have_count(2)
    page.check("#filter-version")
    expect(requests.locator("tbody tr")).to_have_count(2)


def scenario_a_dmn_deploy_lists_its_decisions_with_their_xml(ctx):
    page = ctx.signed_in("/processes")
    upload(page, "shipping.dmn", SHIPPING_DMN)
    expect(page.locator("#deployed")).to_contain_text("decision shipping_fee v1")
    row = page.locator('#decision-list tr[data-decision="shipping_fee"]')
    expect(row).to_contain_text("Shipping fee")
    expect(row).to_contain_text("v1")
    # A second version; the XML of either is shown and offered for download.
    upload(page, "shipping.dmn", SHIPPING_DMN.replace("<text>20</text>", "<text>25</text>"))
    expect(page.locator("#deployed")).to_contain_text("decision shipping_fee v2")
    expect(row).to_contain_text("v2")
    row.locator("button.show-decision").click()
    expect(page.locator("#decision-xml")).to_contain_text("<text>25</text>")
    expect(page.locator("#decision-download")).to_have_attribute("download", "shipping_fee-v2.dmn")
    page.select_option("#decision-version", "1")
    expect(page.locator("#decision-xml")).to_contain_text("<text>20</text>")
    expect(page.locator("#decision-download")).to_have_attribute("download", "shipping_fee-v1.dmn")
    ctx.shot(page, "decisions")


def scenario_claim_a_task_fill_its_typed_form_and_go_on_to_the_next_one(ctx):
    ctx.server.deploy(WORK)
    rid = ctx.server.start("work", {"customer": "Acme"})["id"]
    page = ctx.signed_in("/tasks")
    # A candidate's task is in "may claim"; claimed it is mine, unclaimed it goes back.
    claimable = page.locator('#claimable-tasks article.task[data-element="review"]')
    expect(claimable).to_have_count(1)
    expect(claimable).to_contain_text("may be claimed by webadmin, bob")
    ctx.shot(page, "inbox")
    claimable.locator("button.claim").click()
    mine = page.locator('#my-tasks article.task[data-element="review"]')
    expect(mine).to_contain_text("assigned to webadmin")
    expect(page.locator('#claimable-tasks article.task[data-element="review"]')).to_have_count(0)
    mine.locator("button.unclaim").click()
    expect(page.locator('#claimable-tasks article.task[data-element="review"]')).to_have_count(1)
    expect(page.locator('#my-tasks article.task[data-element="review"]')).to_have_count(0)
    # The Request's page says who the waiting task is for.
    request = ctx.page_of(page)
    request.goto(f"{ctx.server.base}/requests/{rid}")
    waiting = request.locator('#tasks .waiting-task[data-element="review"]')
    expect(waiting).to_contain_text("may be claimed by webadmin, bob")
    # The task's page: documentation, who it is for, claim, the form of the model's fields.
    page.locator('#claimable-tasks article.task[data-element="review"] a.open-task').click()
    expect(page).to_have_url(re.compile(r"/tasks/[0-9a-f-]+$"))
    expect(page.locator("#documentation")).to_contain_text("Check the amount against the quote.")
    expect(page.locator("#task-for")).to_contain_text("may be claimed by webadmin, bob")
    expect(page.locator("#request-data")).to_contain_text('"customer": "Acme"')
    expect(page.locator("#field-note")).to_have_value("none")
    expect(page.locator("#field-size")).to_have_value("m")
    page.click("#claim")
    expect(page.locator("#task-for")).to_contain_text("assigned to webadmin")
    expect(page.locator("#unclaim")).to_be_visible()
    expect(waiting).to_contain_text("assigned to webadmin")
    # Validation: a required field left empty, then a number that is not whole; nothing is sent.
    page.click("#complete")
    expect(page.locator("#field-amount-error")).to_have_text("Amount is required")
    page.fill("#field-amount", "12.5")
    page.click("#complete")
    expect(page.locator("#field-amount-error")).to_have_text("Amount must be a whole number")
    expect(page.locator("#task-status")).to_have_text("active")
    ctx.shot(page, "task-form")
    page.fill("#field-amount", "1200")
    page.select_option("#field-size", "l")
    page.check("#field-urgent")
    page.fill("#field-ship", "2026-12-24")
    page.click("#complete")
    # On to the next task of the same Request: an approval.
    expect(page).to_have_url(re.compile(r"/tasks/[0-9a-f-]+\?after="))
    expect(page.locator("h1")).to_have_text("Decide")
    expect(page.locator("#approve")).to_be_visible()
    expect(page.locator("#reject")).to_be_visible()
    page.fill("#field-reason", "too expensive")
    ctx.shot(page, "task-approval")
    page.click("#reject")
    # No next task: the Request's page, completed down the rejecting flow.
    expect(page).to_have_url(f"{ctx.server.base}/requests/{rid}")
    expect(page.locator("#status")).to_have_text("completed")
    data = page.locator("#data")
    for text in ['"amount": 1200', '"size": "l"', '"urgent": true', '"ship": "2026-12-24"', '"note": "none"',
                 '"approved": false', '"reason": "too expensive"']:
        expect(data).to_contain_text(text)
    taken = '#request-diagram .djs-connection.flow-taken[data-element-id="{}"]'
    for flow in ("f1", "f2", "f3", "f_no"):
        expect(page.locator(taken.format(flow))).to_have_count(1)
    expect(page.locator(taken.format("f_yes"))).to_have_count(0)
    ctx.shot(page, "request-flows-taken")
    request.close()


def scenario_approve_an_approval_task(ctx):
    ctx.server.deploy(WORK)
    rid = ctx.server.start("work")["id"]
    _, listed = ctx.server.api("GET", f"/api/v1/tasks?request={rid}&status=active")
    review = listed["tasks"][0]
    # The API gives the form the model declares.
    status, detail = ctx.server.api("GET", f"/api/v1/tasks/{review['id']}")
    assert status == 200, detail
    assert [f["id"] for f in detail["form"]["fields"]] == ["amount", "note", "size", "urgent", "ship"], detail
    assert detail["form"]["fields"][0]["required"] is True and detail["form"]["approval"] is False, detail
    status, _ = ctx.server.api("POST", f"/api/v1/tasks/{review['id']}/complete", {"data": {"amount": 5}})
    assert status == 200
    _, listed = ctx.server.api("GET", f"/api/v1/tasks?request={rid}&status=active")
    decide = listed["tasks"][0]
    page = ctx.signed_in(f"/tasks/{decide['id']}")
    expect(page.locator("#task-for")).to_contain_text("assigned to webadmin")
    page.click("#approve")
    expect(page).to_have_url(f"{ctx.server.base}/requests/{rid}")
    expect(page.locator("#status")).to_have_text("completed")
    expect(page.locator("#data")).to_contain_text('"approved": true')
    taken = '#request-diagram .djs-connection.flow-taken[data-element-id="{}"]'
    expect(page.locator(taken.format("f_yes"))).to_have_count(1)
    expect(page.locator(taken.format("f_no"))).to_have_count(0)


def scenario_the_policy_check_sees_a_violation(ctx):
    # The other scenarios fail on any CSP violation the console reports: this one shows that an
    # inline style attribute written as HTML is refused and reported.
    page = ctx.signed_in("/processes")
    before = len(ctx.csp_violations)
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<div style=\"color: red\">x</div>')")
    deadline = time.time() + 5
    while len(ctx.csp_violations) == before and time.time() < deadline:
        page.wait_for_timeout(100)
    seen = ctx.csp_violations[before:]
    del ctx.csp_violations[before:]
    assert any("style" in v for v in seen), seen


def main():
    binary, fake_slack = sys.argv[1], sys.argv[2]
    found = list(globals().items()) + list(vars(modeller_scenarios).items())
    scenarios = [(n, f) for n, f in found if n.startswith("scenario_") and callable(f)]
    wanted = os.environ.get("SLUICE_BROWSER_ONLY")
    if wanted:
        scenarios = [(n, f) for n, f in scenarios if wanted in n]
    slack = FakeSlack(fake_slack)
    server = Server(binary, slack.api_url)
    passed = failed = 0
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            ctx = Ctx(server, browser, slack)
            for name, scenario in scenarios:
                before = len(ctx.csp_violations)
                try:
                    scenario(ctx)
                    new = ctx.csp_violations[before:]
                    assert not new, f"the page broke its Content-Security-Policy or threw: {new}"
                    passed += 1
                    print(f"test {name} ... ok", flush=True)
                except Exception:  # noqa: BLE001 (every failure is reported and counted)
                    failed += 1
                    print(f"test {name} ... FAILED", flush=True)
                    traceback.print_exc()
            browser.close()
    finally:
        code = server.stop()
        slack.stop()
        if code != 0:
            print(f"sluice serve exited with {code} after SIGTERM", flush=True)
            failed += 1
        if failed:
            print(server.server_log(), file=sys.stderr)
    verdict = "ok" if failed == 0 else "FAILED"
    print(f"test result: {verdict}. {passed} passed; {failed} failed (browser: the web app in Chromium)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
