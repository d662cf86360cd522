//! Vendor settings Sluice reads past but does not honour: each gets an `unsupported-vendor-setting`
//! warning at the setting (its attribute or element) naming it, so `sluice check` tells the
//! designer what will behave differently than in the modeller's own engine. Settings that are
//! honoured elsewhere (`zeebe:taskDefinition retries` as a worker job's first retries,
//! `zeebe:priorityDefinition` and `camunda:priority` of user tasks) are not listed here.

use super::ProcLift;
use crate::xml::Ns;

const CODE: &str = "unsupported-vendor-setting";

impl ProcLift<'_, '_, '_> {
    /// Warns about the unhonoured vendor settings of the process or flow node at `ni`.
    pub(super) fn vendor_settings(&mut self, ni: usize, id: &str) {
        if !self.exec {
            return;
        }
        let doc = self.doc;
        let n = self.node(ni);
        for a in n.attrs.iter().filter(|a| a.ns == Ns::Camunda) {
            let why = match a.local {
                "asyncBefore" | "asyncAfter" | "async" if a.value.trim() == "true" => {
                    "Sluice adds no asynchronous continuation there (no extra wait state or transaction boundary)"
                }
                "jobPriority" | "taskPriority" => "connector calls and worker jobs have no priority in Sluice",
                _ => continue,
            };
            self.rep.warn(
                a.offset,
                CODE,
                format!("`camunda:{}` of `{id}` is not honoured by Sluice: {why}", a.local),
                Some(id),
            );
        }
        let Some(e) = self.extension(ni) else { return };
        for (_, c) in doc.children(e).filter(|(_, c)| c.is(Ns::Camunda, "failedJobRetryTimeCycle")) {
            self.rep.warn(
                c.offset,
                CODE,
                format!(
                    "`camunda:failedJobRetryTimeCycle` of `{id}` is not honoured by Sluice: connector calls are \
                     retried with Sluice's back-off (SLUICE_MAX_ATTEMPTS), worker jobs as their workers' failures \
                     say (`retries`, `retry_after_ms`)"
                ),
                Some(id),
            );
        }
    }
}
