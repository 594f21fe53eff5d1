//! What next: a short ranked list of open tasks, each with the reasons it is there (overdue,
//! due soon, priority, fits the current context, a stalled project). Pure: the candidates, the
//! clock, the zone, the contexts and the stalled projects come in; nothing is read here.
//!
//! Scores add up: overdue 100 (+2 a day, up to 30 days), due today 60, due tomorrow 35, due in
//! 2–3 days 20; priority A 40, B 25, C 10; fits the current context 30; in a stalled project
//! 15. Ties go to the earlier due, then the older task. Tasks waiting on someone (`@waiting`),
//! done ones and ones whose start (`t:`) is still ahead are never suggested, nor tasks with no
//! reason at all.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::tasks::Task;

/// The context that marks a task as waiting on someone else.
pub const WAITING: &str = "waiting";

/// Why a task is suggested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    /// `overdue`, `due_today`, `due_soon`, `priority`, `context`, `stalled`.
    pub kind: &'static str,
    /// In words: "overdue 3 days", "due today", "priority A", "fits @work", "+garden stalled".
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Suggestion {
    pub task: Task,
    pub score: i32,
    pub reasons: Vec<Reason>,
}

/// The day a task is due in the person's zone, and whether that moment has passed.
fn due_of(task: &Task, now: DateTime<Utc>, today: NaiveDate) -> Option<(NaiveDate, bool)> {
    let day = task.due_date?;
    let passed = match task.due_at {
        Some(at) => at < now.naive_utc(),
        None => day < today,
    };
    Some((day, passed))
}

/// Scores one task; `None` when it is not a candidate or has no reason.
pub fn score(
    task: &Task,
    now: DateTime<Utc>,
    tz: Tz,
    contexts: &[String],
    stalled: &HashSet<String>,
) -> Option<Suggestion> {
    let today = now.with_timezone(&tz).date_naive();
    let own = task.context_list();
    if task.done || own.contains(&WAITING) || task.threshold.is_some_and(|t| t > today) {
        return None;
    }
    let mut score = 0;
    let mut reasons = Vec::new();
    if let Some((day, passed)) = due_of(task, now, today) {
        let days = (day - today).num_days();
        if passed {
            let late = (today - day).num_days().max(0);
            score += 100 + 2 * late.min(30) as i32;
            let text = match late {
                0 => "overdue since earlier today".to_string(),
                1 => "overdue 1 day".to_string(),
                n => format!("overdue {n} days"),
            };
            reasons.push(Reason { kind: "overdue", text });
        } else if days == 0 {
            score += 60;
            reasons.push(Reason { kind: "due_today", text: "due today".into() });
        } else if days == 1 {
            score += 35;
            reasons.push(Reason { kind: "due_soon", text: "due tomorrow".into() });
        } else if (2..=3).contains(&days) {
            score += 20;
            reasons.push(Reason { kind: "due_soon", text: format!("due in {days} days") });
        }
    }
    if let Some(p) = task.priority.as_deref() {
        let points = match p {
            "A" => 40,
            "B" => 25,
            "C" => 10,
            _ => 0,
        };
        if points > 0 {
            score += points;
            reasons.push(Reason { kind: "priority", text: format!("priority {p}") });
        }
    }
    if let Some(c) = contexts.iter().find(|c| own.contains(&c.as_str())) {
        score += 30;
        reasons.push(Reason { kind: "context", text: format!("fits @{c}") });
    }
    if let Some(p) = task.project_list().into_iter().find(|p| stalled.contains(*p)) {
        score += 15;
        reasons.push(Reason { kind: "stalled", text: format!("+{p} stalled") });
    }
    (score > 0).then(|| Suggestion { task: task.clone(), score, reasons })
}

/// The `limit` best candidates, best first (each task once).
pub fn rank(
    candidates: &[Task],
    now: DateTime<Utc>,
    tz: Tz,
    contexts: &[String],
    stalled: &HashSet<String>,
    limit: usize,
) -> Vec<Suggestion> {
    let mut seen = HashSet::new();
    let mut list: Vec<Suggestion> = candidates
        .iter()
        .filter(|t| seen.insert(t.id))
        .filter_map(|t| score(t, now, tz, contexts, stalled))
        .collect();
    list.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then_with(|| sort_due(&a.task).cmp(&sort_due(&b.task)))
            .then_with(|| a.task.id.cmp(&b.task.id))
    });
    list.truncate(limit);
    list
}

/// Earlier due first; no due last.
fn sort_due(t: &Task) -> (bool, Option<NaiveDate>, Option<chrono::NaiveDateTime>) {
    (t.due_date.is_none(), t.due_date, t.due_at)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tasks::todotxt::TodoLine;
    use crate::tasks::{Derived, Task};
    use chrono::TimeZone;

    /// A task as the store would hold it, from a todo.txt line read in `tz`.
    pub(crate) fn task(id: i32, line: &str, tz: Tz) -> Task {
        let line = TodoLine::parse(line);
        let d = Derived::of(&line, tz);
        let at = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
        Task {
            id,
            body: line.body.clone(),
            priority: line.priority.map(String::from),
            done: line.done,
            created_on: line.created,
            completed_on: line.completed,
            title: d.title,
            projects: d.projects,
            contexts: d.contexts,
            due_date: d.due_date,
            due_at: d.due_at,
            threshold: d.threshold,
            recurrence: d.recurrence,
            created_by: "person".into(),
            created_at: at,
            updated_at: at,
            completed_at: None,
            deleted_at: None,
            created_in: None,
        }
    }

    fn ids(list: &[Suggestion]) -> Vec<i32> {
        list.iter().map(|s| s.task.id).collect()
    }

    fn reasons(s: &Suggestion) -> String {
        s.reasons.iter().map(|r| r.text.as_str()).collect::<Vec<_>>().join(", ")
    }

    #[test]
    fn ranks_by_urgency_then_priority_then_context() {
        let tz = chrono_tz::America::New_York;
        // Wednesday 2 December 2026, 10:00 in New York.
        let now = tz.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap().with_timezone(&Utc);
        let list = [
            task(1, "Plain thing", tz),
            task(2, "Late report due:2026-11-29", tz),
            task(3, "(A) Important no date", tz),
            task(4, "Pay bill due:2026-12-02", tz),
            task(5, "Call Ana @phone", tz),
            task(6, "Wait for Bob @waiting due:2026-11-01", tz),
            task(7, "(B) Tomorrow's thing due:2026-12-03", tz),
            task(8, "x 2026-12-01 Done already due:2026-11-01", tz),
            task(9, "Later start t:2026-12-10 due:2026-11-30", tz),
            task(10, "Weed the beds +garden", tz),
            task(11, "Meeting at 9 due:2026-12-02T09:00:00-05:00", tz),
            task(12, "(D) Low priority", tz),
            task(13, "In three days due:2026-12-05", tz),
            task(14, "In four days due:2026-12-06", tz),
        ];
        let stalled: HashSet<String> = ["garden".to_string()].into();
        let ranked = rank(&list, now, tz, &["phone".into()], &stalled, 20);
        assert_eq!(ids(&ranked), vec![2, 11, 4, 7, 3, 5, 13, 10]);
        let by_id = |id| ranked.iter().find(|s| s.task.id == id).unwrap();
        assert_eq!(reasons(by_id(2)), "overdue 3 days");
        assert_eq!(by_id(2).score, 106);
        assert_eq!(reasons(by_id(11)), "overdue since earlier today");
        assert_eq!(reasons(by_id(4)), "due today");
        assert_eq!(reasons(by_id(7)), "due tomorrow, priority B");
        assert_eq!(reasons(by_id(3)), "priority A");
        assert_eq!(reasons(by_id(5)), "fits @phone");
        assert_eq!(reasons(by_id(13)), "due in 3 days");
        assert_eq!(reasons(by_id(10)), "+garden stalled");
        // The limit cuts the tail; the same task given twice counts once.
        let doubled: Vec<Task> = list.iter().chain(list.iter()).cloned().collect();
        assert_eq!(ids(&rank(&doubled, now, tz, &["phone".into()], &stalled, 3)), vec![2, 11, 4]);
    }

    #[test]
    fn ties_go_to_the_earlier_due_then_the_older_task() {
        let tz = chrono_tz::Europe::Lisbon;
        let now = tz.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap().with_timezone(&Utc);
        let list = [
            task(5, "(A) b", tz),
            task(4, "(A) a", tz),
            task(3, "(C) c due:2026-12-05", tz),
            task(2, "(C) d due:2026-12-04", tz),
        ];
        let ranked = rank(&list, now, tz, &[], &HashSet::new(), 10);
        assert_eq!(ids(&ranked), vec![4, 5, 2, 3]);
    }

    #[test]
    fn the_day_is_the_persons_not_utcs() {
        // 23:30 on 1 December in New York is already 2 December in UTC: a task due on the
        // 2nd is due tomorrow there, not today.
        let tz = chrono_tz::America::New_York;
        let now = tz.with_ymd_and_hms(2026, 12, 1, 23, 30, 0).unwrap().with_timezone(&Utc);
        let t = task(1, "Thing due:2026-12-02", tz);
        let s = score(&t, now, tz, &[], &HashSet::new()).unwrap();
        assert_eq!(reasons(&s), "due tomorrow");
        let t = task(2, "Other due:2026-12-01", tz);
        assert_eq!(reasons(&score(&t, now, tz, &[], &HashSet::new()).unwrap()), "due today");
    }
}
