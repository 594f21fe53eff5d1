//! `steward event add|list|show|rm`, `steward import ics`, `steward export ics`: the calendar's
//! commands, calling `crate::calendar`'s services like every other door.

use std::io::Write;
use std::path::PathBuf;

use chrono::Duration;
use clap::Subcommand;

use super::{conn, ctx, open, print_json};
use crate::calendar::service::{self, EventInput, Target};
use crate::calendar::{Event, Occurrence, ics};
use crate::config::Config;
use crate::error::AppError;

// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum EventCommand {
    /// Add an event: steward event add "Dentist fri 3pm for 1h at Main St", or with fields:
    /// steward event add --title Dentist --start 2026-03-02T09:30 --end 2026-03-02T10:30
    Add(AddArgs),
    /// List occurrences from --from (default today) to --to (default a week later)
    List {
        /// A date (YYYY-MM-DD) or RFC 3339 date-time
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        /// A calendar's name or id (several separated by commas)
        #[arg(long)]
        calendar: Option<String>,
    },
    /// Show an event's fields
    Show { id: i32 },
    /// Delete an event (a recurring one: --scope this|following --occurrence 2026-03-09T09:30)
    Rm {
        id: i32,
        #[arg(long)]
        scope: Option<String>,
        #[arg(long)]
        occurrence: Option<String>,
    },
}

#[derive(clap::Args, Default)]
pub struct AddArgs {
    /// The event in words (quick-add): "Standup every weekday 9:30 for 15m", "Trip dec 20-27"
    #[arg(value_name = "TEXT")]
    pub text: Vec<String>,
    #[arg(long)]
    pub title: Option<String>,
    /// 2026-03-02T09:30 (in --zone), or 2026-03-02 for an all-day event
    #[arg(long)]
    pub start: Option<String>,
    #[arg(long)]
    pub end: Option<String>,
    /// An IANA zone, or `floating`; default: your zone
    #[arg(long)]
    pub zone: Option<String>,
    #[arg(long)]
    pub all_day: bool,
    /// An RFC 5545 rule: FREQ=WEEKLY;BYDAY=MO,WE
    #[arg(long)]
    pub rrule: Option<String>,
    #[arg(long = "exdate", value_name = "WHEN")]
    pub exdates: Vec<String>,
    #[arg(long = "rdate", value_name = "WHEN")]
    pub rdates: Vec<String>,
    #[arg(long)]
    pub location: Option<String>,
    #[arg(long)]
    pub notes: Option<String>,
    #[arg(long = "category", value_name = "NAME")]
    pub categories: Vec<String>,
    /// A calendar's name or id
    #[arg(long)]
    pub calendar: Option<String>,
    /// Reminders before the start: 10m,1d (`none` for none; default: the calendar's)
    #[arg(long, value_name = "LEADS")]
    pub remind: Option<String>,
}

impl AddArgs {
    pub fn input(&self) -> EventInput {
        let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        EventInput {
            title: self.title.clone(),
            start: self.start.clone(),
            end: self.end.clone(),
            all_day: self.all_day.then_some(true),
            zone: self.zone.clone().map(Some),
            rrule: self.rrule.clone().map(Some),
            exdates: list(&self.exdates),
            rdates: list(&self.rdates),
            location: self.location.clone().map(Some),
            notes: self.notes.clone().map(Some),
            categories: list(&self.categories),
            calendar: self.calendar.clone(),
            reminders: self.remind.as_deref().map(|r| {
                let r = r.trim();
                (!r.eq_ignore_ascii_case("default")).then(|| {
                    if r.eq_ignore_ascii_case("none") {
                        Vec::new()
                    } else {
                        r.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
                    }
                })
            }),
        }
    }
}

fn line(e: &Event) -> String {
    let zone = e.zone.as_deref().map(|z| format!(" {z}")).unwrap_or_default();
    let rule = e.rrule.as_deref().map(|r| format!("  [{r}]")).unwrap_or_default();
    format!("#{} {} – {}{}  {}{}", e.id, e.start().to_api(), e.end().to_api(), zone, e.title, rule)
}

fn occurrence_line(o: &Occurrence, tz: chrono_tz::Tz) -> String {
    let when = if o.all_day {
        let last = o.end.date() - Duration::days(1);
        if last > o.start.date() {
            format!("{} – {}", o.start.to_api(), last)
        } else {
            format!("{}  all day", o.start.to_api())
        }
    } else {
        let (s, e) = (o.start_at.with_timezone(&tz), o.end_at.with_timezone(&tz));
        format!("{} {}–{}", s.format("%Y-%m-%d"), s.format("%H:%M"), e.format("%H:%M"))
    };
    let zone = match (&o.zone, o.all_day) {
        (Some(z), false) if z != tz.name() => format!("  ({} {z})", o.start.naive().format("%H:%M")),
        _ => String::new(),
    };
    format!("{when}  {}{zone}  #{}", o.title, o.event_id)
}

pub fn event(config: &Config, cmd: EventCommand, json: bool) -> Result<(), AppError> {
    let db = open(config)?;
    let mut conn = conn(&db)?;
    let ctx = ctx(config, &mut conn)?;
    match cmd {
        EventCommand::Add(args) => {
            let e = if args.text.is_empty() {
                service::create(&mut conn, &ctx, &args.input())?
            } else {
                let fields = [
                    &args.title,
                    &args.start,
                    &args.end,
                    &args.zone,
                    &args.rrule,
                    &args.location,
                    &args.notes,
                ];
                let lists = [&args.exdates, &args.rdates, &args.categories];
                if args.all_day || fields.iter().any(|f| f.is_some()) || lists.iter().any(|l| !l.is_empty()) {
                    return Err(AppError::invalid(
                        "text",
                        "give the event in words or with --title/--start/..., not both (--calendar goes with either)",
                    ));
                }
                crate::calendar::quickadd::create_from_text(
                    &mut conn,
                    &ctx,
                    &args.text.join(" "),
                    args.calendar.as_deref(),
                )?
            };
            if json {
                let names = service::calendar_names(&mut conn)?;
                return print_json(&e.view(names.get(&e.calendar_id).map(String::as_str).unwrap_or("")));
            }
            println!("Added {}", line(&e));
            Ok(())
        }
        EventCommand::List { from, to, calendar } => {
            let from = match from {
                Some(f) => service::parse_instant("--from", &f, ctx.tz)?,
                None => crate::calendar::resolve(ctx.tz, ctx.today().and_time(chrono::NaiveTime::MIN)),
            };
            let to = match to {
                Some(t) => service::parse_instant("--to", &t, ctx.tz)?,
                None => from + Duration::days(7),
            };
            if to <= from {
                return Err(AppError::invalid("--to", "must be after --from"));
            }
            let ids = match calendar.as_deref() {
                Some(c) => {
                    let mut ids = Vec::new();
                    for name in c.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                        ids.push(service::find_calendar(&mut conn, name)?.id);
                    }
                    Some(ids)
                }
                None => None,
            };
            let (occ, truncated) = service::occurrences(&mut conn, &ctx, from, to, ids.as_deref())?;
            if json {
                let names = service::calendar_names(&mut conn)?;
                let list: Vec<_> = occ
                    .iter()
                    .map(|o| o.to_json(ctx.tz, names.get(&o.calendar_id).map(String::as_str).unwrap_or("")))
                    .collect();
                return print_json(&serde_json::json!({ "occurrences": list, "truncated": truncated }));
            }
            for o in &occ {
                println!("{}", occurrence_line(o, ctx.tz));
            }
            if truncated {
                println!("(more than {} occurrences; narrow the range)", crate::calendar::MAX_OCCURRENCES);
            }
            Ok(())
        }
        EventCommand::Show { id } => {
            let e = service::get(&mut conn, id)?;
            let names = service::calendar_names(&mut conn)?;
            let view = e.view(names.get(&e.calendar_id).map(String::as_str).unwrap_or(""));
            if json {
                return print_json(&view);
            }
            println!("{}", view.title);
            println!(
                "  when      {} – {}{}",
                view.start,
                view.end,
                view.zone.map(|z| format!(" ({z})")).unwrap_or_else(|| if view.all_day {
                    " (all day)".into()
                } else {
                    " (floating)".into()
                })
            );
            if let Some(r) = &view.rrule {
                println!("  repeats   {r}");
            }
            if !view.exdates.is_empty() {
                println!("  except    {}", view.exdates.join(", "));
            }
            if !view.rdates.is_empty() {
                println!("  also      {}", view.rdates.join(", "));
            }
            if let Some(r) = &view.recurrence_id {
                println!("  replaces  the occurrence of {r}");
            }
            if let Some(l) = &view.location {
                println!("  where     {l}");
            }
            if !view.categories.is_empty() {
                println!("  tags      {}", view.categories.join(", "));
            }
            println!("  calendar  {}", view.calendar);
            println!("  uid       {} (sequence {})", view.uid, view.sequence);
            if let Some(n) = &view.notes {
                println!();
                println!("{n}");
            }
            Ok(())
        }
        EventCommand::Rm { id, scope, occurrence } => {
            let target = Target::parse(scope.as_deref(), occurrence.as_deref())?;
            let deleted = service::delete(&mut conn, &ctx, id, target)?;
            if json {
                return print_json(&deleted);
            }
            match (deleted.series, target.occurrence) {
                (Some(_), Some(o)) if target.scope == service::Scope::Following => {
                    println!("Deleted the occurrences of event {id} from {}.", o.to_api())
                }
                (Some(_), Some(o)) => println!("Deleted the occurrence of {} of event {id}.", o.to_api()),
                _ => println!("Deleted event {id}."),
            }
            Ok(())
        }
    }
}

/// `steward import ics FILE`: exit 0 with the summary and each skipped event; 2 when the file
/// is not a calendar.
pub fn import_ics(
    config: &Config,
    file: PathBuf,
    calendar: Option<String>,
    json: bool,
) -> Result<(), AppError> {
    let bytes = std::fs::read(&file)
        .map_err(|e| AppError::invalid("FILE", format!("cannot read {}: {e}", file.display())))?;
    let text = ics::decode(&bytes);
    let db = open(config)?;
    let mut conn = conn(&db)?;
    let ctx = ctx(config, &mut conn)?;
    let cal = match calendar.as_deref() {
        Some(c) => service::find_calendar(&mut conn, c)?,
        None => service::default_calendar(&mut conn)?,
    };
    let report = ics::import(&mut conn, &ctx, cal.id, &text).map_err(|e| match e {
        AppError::Invalid { field, message } if field == "file" => {
            AppError::invalid("FILE", format!("{}: {message}", file.display()))
        }
        other => other,
    })?;
    if json {
        return print_json(&report.to_json());
    }
    println!("{}", report.summary());
    for (uid, reason) in &report.skipped {
        println!("skipped {uid}: {reason}");
    }
    Ok(())
}

/// `steward export ics [FILE]`.
pub fn export_ics(config: &Config, file: Option<PathBuf>, calendar: Option<String>) -> Result<(), AppError> {
    let db = open(config)?;
    let mut conn = conn(&db)?;
    let ctx = ctx(config, &mut conn)?;
    let ids = match calendar.as_deref() {
        Some(c) => Some(vec![service::find_calendar(&mut conn, c)?.id]),
        None => None,
    };
    let options = ics::WriteOptions { name: Some("Steward".into()), ..Default::default() };
    let text = ics::export(&mut conn, &ctx, ids.as_deref(), &options)?;
    match file {
        Some(path) => std::fs::write(&path, text)
            .map_err(|e| AppError::invalid("FILE", format!("cannot write {}: {e}", path.display()))),
        None => std::io::stdout().write_all(text.as_bytes()).map_err(|e| AppError::Internal(e.into())),
    }
}
