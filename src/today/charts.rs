//! Today's stats as inline SVG, drawn here on the server: no chart library, no script, no
//! inline style (the CSP forbids it): shapes carry classes that app.css colours, so dark mode
//! follows. Each chart has a `<title>` and the numbers in text beside it for screen readers.

use std::fmt::Write as _;

use chrono::NaiveDate;

/// Text for SVG: `&`, `<`, `>`, `"` escaped.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Bars of tasks done per day, oldest on the left; today's bar is marked.
pub fn done_per_day(days: &[(NaiveDate, i64)]) -> String {
    let (w, h, gap) = (300.0_f64, 80.0_f64, 2.0_f64);
    let n = days.len().max(1) as f64;
    let most = days.iter().map(|(_, c)| *c).max().unwrap_or(0).max(1) as f64;
    let bar = (w - gap * (n - 1.0)) / n;
    let total: i64 = days.iter().map(|(_, c)| c).sum();
    let mut out = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {w} {}\" role=\"img\" aria-labelledby=\"chart-done-t\">\
         <title id=\"chart-done-t\">Tasks done per day, last {} days: {total} in all</title>",
        h + 14.0,
        days.len()
    );
    let _ = write!(out, "<line class=\"axis\" x1=\"0\" y1=\"{h}\" x2=\"{w}\" y2=\"{h}\"/>");
    for (i, (day, count)) in days.iter().enumerate() {
        let x = i as f64 * (bar + gap);
        let bh = if *count > 0 { (*count as f64 / most * (h - 4.0)).max(2.0) } else { 0.0 };
        let class = if i + 1 == days.len() { "bar today" } else { "bar" };
        let _ = write!(
            out,
            "<rect class=\"{class}\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{bh:.1}\"><title>{}: {count}</title></rect>",
            h - bh,
            day.format("%a %-d %b")
        );
    }
    if let (Some((first, _)), Some((last, _))) = (days.first(), days.last()) {
        let _ = write!(
            out,
            "<text class=\"label\" x=\"0\" y=\"{}\">{}</text><text class=\"label\" x=\"{w}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            h + 12.0,
            first.format("%-d %b"),
            h + 12.0,
            last.format("%-d %b")
        );
    }
    out.push_str("</svg>");
    out
}

/// A ring showing the share of runs that succeeded, the percentage in the middle.
pub fn success_ring(succeeded: i64, failed: i64) -> String {
    let all = succeeded + failed;
    let (r, c) = (30.0_f64, 40.0_f64);
    let circumference = 2.0 * std::f64::consts::PI * r;
    let title = if all == 0 {
        "No scheduled runs finished in the last 30 days".to_string()
    } else {
        format!("{succeeded} of {all} scheduled runs succeeded in the last 30 days")
    };
    let mut out = format!(
        "<svg class=\"chart ring\" viewBox=\"0 0 80 80\" role=\"img\" aria-labelledby=\"chart-runs-t\">\
         <title id=\"chart-runs-t\">{title}</title>\
         <circle class=\"ring-back{}\" cx=\"{c}\" cy=\"{c}\" r=\"{r}\" fill=\"none\" stroke-width=\"10\"/>",
        if all > 0 && failed > 0 { " failed" } else { "" }
    );
    if all > 0 {
        let share = succeeded as f64 / all as f64;
        let dash = share * circumference;
        let _ = write!(
            out,
            "<circle class=\"ring-ok\" cx=\"{c}\" cy=\"{c}\" r=\"{r}\" fill=\"none\" stroke-width=\"10\" \
             stroke-dasharray=\"{dash:.2} {:.2}\" transform=\"rotate(-90 {c} {c})\"/>",
            circumference - dash
        );
        let _ = write!(
            out,
            "<text class=\"ring-text\" x=\"{c}\" y=\"{}\" text-anchor=\"middle\">{:.0}%</text>",
            c + 5.0,
            share * 100.0
        );
    } else {
        let _ = write!(
            out,
            "<text class=\"ring-text\" x=\"{c}\" y=\"{}\" text-anchor=\"middle\">–</text>",
            c + 5.0
        );
    }
    out.push_str("</svg>");
    out
}

/// Horizontal bars of open tasks per project, most first.
pub fn per_project(projects: &[(String, i64)]) -> String {
    let (w, row) = (300.0_f64, 20.0_f64);
    let h = (projects.len().max(1) as f64) * row;
    let most = projects.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1) as f64;
    let label_w = 110.0;
    let mut out = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-labelledby=\"chart-projects-t\">\
         <title id=\"chart-projects-t\">Open tasks per project</title>"
    );
    for (i, (name, n)) in projects.iter().enumerate() {
        let y = i as f64 * row;
        let bw = (*n as f64 / most * (w - label_w - 30.0)).max(2.0);
        let shown: String = if name.chars().count() > 14 {
            name.chars().take(13).chain(std::iter::once('…')).collect()
        } else {
            name.clone()
        };
        let _ = write!(
            out,
            "<text class=\"label\" x=\"0\" y=\"{:.1}\">+{}<title>+{}</title></text>\
             <rect class=\"bar\" x=\"{label_w}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{:.1}\"/>\
             <text class=\"label\" x=\"{:.1}\" y=\"{:.1}\">{n}</text>",
            y + 14.0,
            esc(&shown),
            esc(name),
            y + 4.0,
            row - 8.0,
            label_w + bw + 4.0,
            y + 14.0
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_busiest_day_and_mark_today() {
        let d = |n| NaiveDate::from_ymd_opt(2026, 12, n).unwrap();
        let svg = done_per_day(&[(d(1), 0), (d(2), 2), (d(3), 4)]);
        assert!(svg.contains("6 in all"), "{svg}");
        assert!(svg.contains("height=\"76.0\"><title>Thu 3 Dec: 4</title>"), "{svg}");
        assert!(svg.contains("height=\"38.0\"><title>Wed 2 Dec: 2</title>"), "{svg}");
        assert!(svg.contains("height=\"0.0\"><title>Tue 1 Dec: 0</title>"), "{svg}");
        assert_eq!(svg.matches("class=\"bar today\"").count(), 1);
        assert!(!svg.contains("style="), "no inline style under the CSP");
    }

    #[test]
    fn the_ring_shows_the_share_that_succeeded() {
        let svg = success_ring(3, 1);
        assert!(svg.contains(">75%<") && svg.contains("3 of 4 scheduled runs"), "{svg}");
        let none = success_ring(0, 0);
        assert!(none.contains("No scheduled runs") && !none.contains("ring-ok"), "{none}");
    }

    #[test]
    fn project_names_are_escaped_and_clamped() {
        let svg = per_project(&[("a<b>&c".into(), 3), ("a_really_long_project_name".into(), 1)]);
        assert!(svg.contains("+a&lt;b&gt;&amp;c"), "{svg}");
        assert!(svg.contains("+a_really_long…<title>+a_really_long_project_name</title>"), "{svg}");
        assert!(!svg.contains("<b>"));
    }
}
