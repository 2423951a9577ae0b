//! The Activity filter as the form sends it, parsed here into the core's
//! types (`countersign::audit::Filter`): used by this desk's list, its CSV
//! export and the branch-wide pages alike, so each reads a filter the same
//! way and refuses a bad one with the same words.

use countersign::audit::{date_range, Filter, RawBound};
use countersign::clock::Timestamp;
use countersign::i18n::Text;
use countersign::policy::NumberUse;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{IpcError, IpcResult};
use crate::shell::Shell;

/// The activity screen's filter, as the form sends it. Unknown fields are
/// refused, so a window still sending the old `to` day gets an error
/// instead of an unfiltered list.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct FilterInput {
    /// The start of the first local day shown, in milliseconds since the
    /// epoch. The window works it out in the operator's time zone (the one
    /// the list shows times in), so a day is the operator's day, DST
    /// included; Rust has no time zone of its own to guess with.
    from: Option<Value>,
    /// The start of the local day after the last one shown (exclusive).
    before: Option<Value>,
    operator: Option<String>,
    outcome: Option<String>,
    phone: Option<String>,
    /// `desk` (this desk's trail, the default) or `branch` (every desk's
    /// records as the branch holds them, in branch mode).
    scope: Option<String>,
    /// In the branch scope: one desk's records only.
    desk: Option<String>,
}

/// Which trail a filter reads.
pub(crate) enum Scope {
    Desk,
    Branch,
}

impl FilterInput {
    pub(crate) fn take_scope(&mut self) -> IpcResult<Scope> {
        match self.scope.take().as_deref().map(str::trim) {
            None | Some("") | Some("desk") => Ok(Scope::Desk),
            Some("branch") => Ok(Scope::Branch),
            Some(_) => Err(IpcError::InvalidFilter(Text::new("audit.bad_scope"))),
        }
    }

    /// The desk asked for, in the branch scope.
    pub(crate) fn take_desk(&mut self) -> Option<String> {
        self.desk
            .take()
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty())
    }

    /// Whether a phone number was given (the branch scope cannot search by
    /// it: each desk's records name numbers under that desk's own key).
    pub(crate) fn has_phone(&self) -> bool {
        self.phone.as_deref().is_some_and(|p| !p.trim().is_empty())
    }

    pub(crate) fn parse(self, shell: &Shell) -> IpcResult<Filter> {
        let (from, before) = parse_bounds(self.from.as_ref(), self.before.as_ref())?;
        let text = |raw: Option<String>| raw.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let number_id = match text(self.phone) {
            None => None,
            Some(phone) => Some(shell.with_desk(|d| {
                let number = d.policy().parse_number(&phone, NumberUse::Search)?;
                Ok(d.number_id(&number).as_str().to_owned())
            })?),
        };
        Ok(Filter {
            from,
            before,
            operator: text(self.operator),
            outcome: text(self.outcome),
            number_id,
        })
    }
}

/// The date range's two instants, each absent when empty. A bound is a
/// whole number of milliseconds (a JSON number, or the same digits as a
/// string); the core checks the range.
pub(crate) fn parse_bounds(
    from: Option<&Value>,
    before: Option<&Value>,
) -> IpcResult<(Option<Timestamp>, Option<Timestamp>)> {
    date_range(raw_bound(from), raw_bound(before)).map_err(|e| IpcError::InvalidFilter(e.text()))
}

/// What the form sent for one bound, as the core reads it.
fn raw_bound(raw: Option<&Value>) -> RawBound {
    let ms = match raw {
        None | Some(Value::Null) => return RawBound::Empty,
        Some(Value::String(s)) if s.trim().is_empty() => return RawBound::Empty,
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(Value::Number(n)) => n.as_i64(),
        Some(_) => None,
    };
    ms.map_or(RawBound::Unreadable, RawBound::Millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bounds_are_the_instants_the_window_sends() {
        // Paris, 29 March 2026, the day the clocks go forward: it starts at
        // 23:00 UTC the day before and lasts 23 hours, to 22:00 UTC; neither
        // bound is a UTC midnight.
        let (from, before) = parse_bounds(
            Some(&json!(1_774_738_800_000i64)),
            Some(&json!("1774821600000")),
        )
        .unwrap();
        assert_eq!(from.unwrap().to_rfc3339(), "2026-03-28T23:00:00.000Z");
        assert_eq!(before.unwrap().to_rfc3339(), "2026-03-29T22:00:00.000Z");
    }

    #[test]
    fn empty_bounds_filter_nothing() {
        assert_eq!(parse_bounds(None, None).unwrap(), (None, None));
        assert_eq!(
            parse_bounds(Some(&json!("")), Some(&Value::Null)).unwrap(),
            (None, None)
        );
    }

    #[test]
    fn bad_bounds_are_refused_with_a_reason() {
        for (from, before, says) in [
            (
                json!("2026-03-30"),
                Value::Null,
                "start date could not be read",
            ),
            (json!(1.5), Value::Null, "start date could not be read"),
            (json!(-1), Value::Null, "start date could not be read"),
            (json!(true), Value::Null, "start date could not be read"),
            (Value::Null, json!("soon"), "end date could not be read"),
            (Value::Null, json!(i64::MAX), "end date could not be read"),
            (json!(2_000), json!(1_000), "before the"),
            (json!(1_000), json!(1_000), "before the"),
        ] {
            let e = parse_bounds(Some(&from), Some(&before)).unwrap_err();
            assert_eq!(e.kind(), "invalid_filter", "{from} {before}");
            assert!(
                e.message().contains(says),
                "{from} {before}: {}",
                e.message()
            );
        }
    }

    #[test]
    fn a_stale_window_sending_the_old_day_field_is_refused() {
        let old = serde_json::from_value::<FilterInput>(json!({"to": "2026-03-30"}));
        assert!(old.is_err());
    }
}
