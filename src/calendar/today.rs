//! Today's events in a few lines, for the chat's `{today}` context.

use chrono::{Duration, NaiveTime};

use crate::db::Conn;
use crate::error::AppError;
use crate::services::Ctx;

/// At most this many events are listed (then "and N more").
const MOST: usize = 15;

/// "Today's events:\n- 09:00–10:00 Dentist at Main St (#12)\n…", or nothing when the day is
/// free. Occurrences of the visible calendars overlapping today in the person's zone.
pub fn summary(conn: &mut Conn, ctx: &Ctx) -> Result<String, AppError> {
    let start = super::resolve(ctx.tz, ctx.today().and_time(NaiveTime::MIN));
    let end = super::resolve(ctx.tz, (ctx.today() + Duration::days(1)).and_time(NaiveTime::MIN));
    let (list, _) = super::service::occurrences(conn, ctx, start, end, None)?;
    if list.is_empty() {
        return Ok(String::new());
    }
    let mut out = String::from("Today's events:\n");
    for o in list.iter().take(MOST) {
        let when = if o.all_day {
            "all day".to_string()
        } else {
            let (s, e) = (o.start_at.with_timezone(&ctx.tz), o.end_at.with_timezone(&ctx.tz));
            let from = if s < start { "(earlier)".to_string() } else { s.format("%H:%M").to_string() };
            let to = if e > end { "(later)".to_string() } else { e.format("%H:%M").to_string() };
            format!("{from}–{to}")
        };
        let place = o
            .location
            .as_deref()
            .filter(|l| !l.trim().is_empty())
            .map(|l| format!(" at {l}"))
            .unwrap_or_default();
        out.push_str(&format!("- {when} {}{place} (event #{})\n", o.title, o.event_id));
    }
    if list.len() > MOST {
        out.push_str(&format!("- and {} more\n", list.len() - MOST));
    }
    Ok(out)
}
