//! The static UNIQUE check: a warning when two rules of a UNIQUE table can both match, found
//! without evaluating anything.
//!
//! Sound by construction (no false positives): two rules are reported only when, for every
//! input, both entries are made of constants (`-`, string and boolean literals, numbers,
//! comparisons and ranges with number ends) and a value exists that passes both, that passes
//! the input's `inputValues` when it has any (which must then be constants too), and that is of
//! the input's declared type when it has one. Anything else (names, calls, `not(...)`, `?`)
//! counts as "may not overlap".

use rust_decimal::Decimal;
use sluice_bpmn::report::Report;
use sluice_feel::{ConstTest, TestsShape};

use crate::model::{HitPolicy, Logic, Model, Table};

/// The set of values one test admits, in the form intersections keep.
#[derive(Debug, Clone, PartialEq)]
enum Set {
    Value(serde_json::Value),
    Interval { lo: Option<(Decimal, bool)>, hi: Option<(Decimal, bool)> },
}

impl Set {
    fn from(t: &ConstTest) -> Set {
        match t {
            ConstTest::Equals(v) => Set::Value(v.clone()),
            ConstTest::Numbers { lo, hi } => Set::Interval { lo: *lo, hi: *hi },
        }
    }

    /// Whether some value is in the set.
    fn non_empty(&self) -> bool {
        match self {
            Set::Value(_) => true,
            Set::Interval { lo: Some((a, ai)), hi: Some((b, bi)) } => a < b || (a == b && *ai && *bi),
            Set::Interval { .. } => true,
        }
    }

    fn intersect(&self, other: &Set) -> Option<Set> {
        let s = match (self, other) {
            (Set::Value(a), Set::Value(b)) => (a == b).then(|| Set::Value(a.clone()))?,
            (Set::Interval { lo: l1, hi: h1 }, Set::Interval { lo: l2, hi: h2 }) => {
                let lo = match (l1, l2) {
                    (None, x) | (x, None) => *x,
                    (Some((a, ai)), Some((b, bi))) => Some(match a.cmp(b) {
                        std::cmp::Ordering::Greater => (*a, *ai),
                        std::cmp::Ordering::Less => (*b, *bi),
                        std::cmp::Ordering::Equal => (*a, *ai && *bi),
                    }),
                };
                let hi = match (h1, h2) {
                    (None, x) | (x, None) => *x,
                    (Some((a, ai)), Some((b, bi))) => Some(match a.cmp(b) {
                        std::cmp::Ordering::Less => (*a, *ai),
                        std::cmp::Ordering::Greater => (*b, *bi),
                        std::cmp::Ordering::Equal => (*a, *ai && *bi),
                    }),
                };
                Set::Interval { lo, hi }
            }
            _ => return None,
        };
        s.non_empty().then_some(s)
    }

    /// Whether values of this set are of the declared FEEL type.
    fn fits(&self, ty: Option<&str>) -> bool {
        let Some(ty) = ty else { return true };
        match self {
            _ if ty == "Any" => true,
            Set::Interval { .. } => ty == "number",
            Set::Value(serde_json::Value::String(_)) => ty == "string",
            Set::Value(serde_json::Value::Bool(_)) => ty == "boolean",
            Set::Value(_) => false,
        }
    }

    /// One value of the set, as FEEL text, for the message.
    fn example(&self) -> String {
        match self {
            Set::Value(v) => v.to_string(),
            Set::Interval { lo, hi } => {
                let n = match (lo, hi) {
                    (Some((a, true)), _) => *a,
                    (_, Some((b, true))) => *b,
                    (Some((a, _)), Some((b, _))) => (a + b) / Decimal::TWO,
                    (Some((a, _)), None) => a + Decimal::ONE,
                    (None, Some((b, _))) => b - Decimal::ONE,
                    (None, None) => Decimal::ZERO,
                };
                n.normalize().to_string()
            }
        }
    }
}

/// The constant alternatives of unary tests: None for `-`, Err(()) when not analysable.
fn alternatives(shape: TestsShape) -> Result<Option<Vec<Set>>, ()> {
    match shape {
        TestsShape::Any => Ok(None),
        TestsShape::Constant(ts) => Ok(Some(ts.iter().map(Set::from).filter(Set::non_empty).collect())),
        TestsShape::Opaque => Err(()),
    }
}

/// What two entries of one column have in common: Some(None) when any value passes both
/// (both `-`), Some(Some(example)) when the sets meet, None when no common value is known.
fn column_overlap(
    a: &Option<Vec<Set>>,
    b: &Option<Vec<Set>>,
    allowed: &Option<Vec<Set>>,
    ty: Option<&str>,
) -> Option<Option<String>> {
    if a.is_none() && b.is_none() && allowed.is_none() {
        return Some(None);
    }
    // `-` (or no input values) is the set of every value: the other side's alternatives.
    let sides: Vec<&Vec<Set>> = [a, b, allowed].into_iter().flatten().collect();
    let (first, rest) = sides.split_first()?;
    for s in first.iter() {
        let mut acc = Some(s.clone());
        for other in rest {
            acc = acc.and_then(|x| other.iter().find_map(|o| x.intersect(o)));
        }
        if let Some(w) = acc.filter(|w| w.fits(ty)) {
            return Some(Some(w.example()));
        }
    }
    None
}

pub(crate) fn check(model: &Model, rep: &mut Report<'_>) {
    for d in &model.decisions {
        let Logic::Table(t) = &d.logic else { continue };
        if t.hit != HitPolicy::Unique {
            continue;
        }
        check_table(&d.id, t, rep);
    }
}

/// Tables larger than this are not checked (the check is quadratic in the rules).
const MAX_RULES: usize = 2000;

fn check_table(decision: &str, t: &Table, rep: &mut Report<'_>) {
    if t.rules.len() > MAX_RULES {
        return;
    }
    let allowed: Vec<Result<Option<Vec<Set>>, ()>> =
        t.inputs.iter().map(|i| i.values.as_ref().map_or(Ok(None), |v| alternatives(v.shape()))).collect();
    let entries: Vec<Vec<Result<Option<Vec<Set>>, ()>>> =
        t.rules.iter().map(|r| r.entries.iter().map(|e| alternatives(e.shape())).collect()).collect();
    for j in 1..t.rules.len() {
        'earlier: for i in 0..j {
            let mut example = Vec::new();
            for (col, inp) in t.inputs.iter().enumerate() {
                let (Some(Ok(a)), Some(Ok(b)), Some(Ok(al))) =
                    (entries[i].get(col), entries[j].get(col), allowed.get(col))
                else {
                    continue 'earlier;
                };
                match column_overlap(a, b, al, inp.type_ref.as_deref()) {
                    None => continue 'earlier,
                    Some(None) => {}
                    Some(Some(w)) => example.push(format!("{} = {w}", inp.label)),
                }
            }
            let (ri, rj) = (&t.rules[i], &t.rules[j]);
            let when =
                if example.is_empty() { "for any input".to_string() } else { format!("when {}", example.join(", ")) };
            rep.warn(
                rj.offset,
                "unique-overlap",
                format!(
                    "decision `{decision}`: rules {} (`{}`) and {} (`{}`) of this UNIQUE table both match {when}, which is an evaluation error; make them exclusive or choose another hit policy (FIRST, PRIORITY, ...)",
                    i + 1,
                    ri.id,
                    j + 1,
                    rj.id
                ),
                Some(&rj.id),
            );
            break;
        }
    }
}
