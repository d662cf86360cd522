//! Who a user task is for: the model's assignment values, evaluated when the task is created.

use serde_json::Value;
use sluice_bpmn::{AssignSource, AssignValue, Element, TemplatePart, When, parse_when};
use sluice_feel::{FeelValue, Variables};

use super::*;

/// The Request's variables, with `requester` as the username of the person who started it.
struct AssignVars<'a> {
    inner: vars::ScopeVariables<'a>,
    requester: Value,
}

impl Variables for AssignVars<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        if name == "requester" {
            return Some(&self.requester);
        }
        self.inner.get(name)
    }

    fn now(&self) -> Option<DateTime<Utc>> {
        self.inner.now()
    }

    fn values(&self) -> &[(String, FeelValue)] {
        self.inner.values()
    }
}

impl Exec<'_> {
    /// The assignment of task `el` in `scope`, or why an attribute could not be evaluated.
    pub(super) fn assignment(&self, scope: ScopeId, el: &Element) -> Result<TaskAssignment, String> {
        let Some(h) = &el.human else { return Ok(TaskAssignment::default()) };
        let vars = AssignVars {
            inner: self.vars(scope),
            requester: self.i.requester.clone().map_or(Value::Null, Value::String),
        };
        let fail = |v: &AssignValue, why: String| format!("`{}` of `{}` failed: {why}", v.attribute, el.id);
        let mut a = TaskAssignment::default();
        if let Some(v) = &h.assignee {
            a.assignee = match eval(v, &vars).map_err(|e| fail(v, e))? {
                Value::Null => None,
                Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
                Value::Number(n) => Some(n.to_string()),
                other => return Err(fail(v, format!("gave {}, not a username", kind(&other)))),
            };
            if v.attribute == "humanPerformer" {
                a.assignee = a.assignee.map(|s| strip_call(&s, "user").unwrap_or(s));
            }
        }
        for v in &h.candidate_users {
            let names = names(eval(v, &vars).map_err(|e| fail(v, e))?).map_err(|e| fail(v, e))?;
            push_new(&mut a.candidate_users, names);
        }
        for v in &h.candidate_groups {
            let names = names(eval(v, &vars).map_err(|e| fail(v, e))?).map_err(|e| fail(v, e))?;
            push_new(&mut a.candidate_groups, names);
        }
        for v in &h.owners {
            for name in names(eval(v, &vars).map_err(|e| fail(v, e))?).map_err(|e| fail(v, e))? {
                match strip_call(&name, "user") {
                    Some(u) => push_new(&mut a.candidate_users, [u]),
                    None => push_new(&mut a.candidate_groups, [strip_call(&name, "group").unwrap_or(name)]),
                }
            }
        }
        let when = |v: &AssignValue| -> Result<Option<DateTime<Utc>>, String> {
            match eval(v, &vars).map_err(|e| fail(v, e))? {
                Value::Null => Ok(None),
                Value::String(s) => match parse_when(&s) {
                    Some(When::At(t)) => Ok(Some(t)),
                    Some(When::After(d)) => {
                        d.add_to(self.now).map(Some).ok_or_else(|| fail(v, format!("`{s}` is out of range")))
                    }
                    None => Err(fail(v, format!("`{s}` is neither an ISO 8601 date-time nor a duration"))),
                },
                other => Err(fail(v, format!("gave {}, not a date-time", kind(&other)))),
            }
        };
        if let Some(v) = &h.due {
            a.due = when(v)?;
        }
        if let Some(v) = &h.follow_up {
            a.follow_up = when(v)?;
        }
        if let Some(v) = &h.priority {
            a.priority = match eval(v, &vars).map_err(|e| fail(v, e))? {
                Value::Null => None,
                Value::Number(n) => match n
                    .as_i64()
                    .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9e15).map(|f| f as i64))
                {
                    Some(p) => Some(p),
                    None => return Err(fail(v, format!("gave {n}, not a whole number"))),
                },
                Value::String(s) => match s.trim().parse::<i64>() {
                    Ok(p) => Some(p),
                    Err(_) => return Err(fail(v, format!("gave `{s}`, not a whole number"))),
                },
                other => return Err(fail(v, format!("gave {}, not a whole number", kind(&other)))),
            };
        }
        Ok(a)
    }
}

fn eval(v: &AssignValue, vars: &dyn Variables) -> Result<Value, String> {
    match &v.value {
        AssignSource::Text(s) => Ok(Value::String(s.clone())),
        AssignSource::Expr(e) => e.eval(vars).map_err(|err| format!("`{}`: {err}", e.source())),
        AssignSource::Template(parts) => {
            let mut out = String::new();
            for p in parts {
                match p {
                    TemplatePart::Text(s) => out.push_str(s),
                    TemplatePart::Expr(e) => match e.eval(vars).map_err(|err| format!("`{}`: {err}", e.source()))? {
                        Value::Null => {}
                        Value::String(s) => out.push_str(&s),
                        other => out.push_str(&other.to_string()),
                    },
                }
            }
            Ok(Value::String(out))
        }
    }
}

/// Names from a value: text separated by commas, or a list of texts.
fn names(v: Value) -> Result<Vec<String>, String> {
    let split = |s: &str| s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect::<Vec<_>>();
    match v {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(split(&s)),
        Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                match item {
                    Value::String(s) => out.extend(split(&s)),
                    Value::Null => {}
                    other => return Err(format!("gave a list holding {}, not names", kind(&other))),
                }
            }
            Ok(out)
        }
        other => Err(format!("gave {}, not names (text separated by commas, or a list)", kind(&other))),
    }
}

/// `x` of `f(x)`.
fn strip_call(s: &str, f: &str) -> Option<String> {
    let inner = s.trim().strip_prefix(f)?.trim_start().strip_prefix('(')?.strip_suffix(')')?;
    Some(inner.trim().trim_matches(|c| c == '\'' || c == '"').to_owned())
}

fn push_new(list: &mut Vec<String>, names: impl IntoIterator<Item = String>) {
    for n in names {
        if !list.contains(&n) {
            list.push(n);
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "a context",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn owners_read_user_and_group_calls() {
        assert_eq!(strip_call("user(kermit)", "user").as_deref(), Some("kermit"));
        assert_eq!(strip_call(" group( 'sales' )", "group").as_deref(), Some("sales"));
        assert_eq!(strip_call("management", "group"), None);
        assert_eq!(names(serde_json::json!("a, b,,c")).unwrap(), vec!["a", "b", "c"]);
        assert_eq!(names(serde_json::json!(["a", "b,c"])).unwrap(), vec!["a", "b", "c"]);
        assert!(names(serde_json::json!({"a": 1})).is_err());
    }
}
