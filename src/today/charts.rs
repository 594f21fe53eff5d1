//! Today's stats as inline SVG, drawn here on the server: no chart library, no script, no
//! inline style (the CSP forbids it): shapes carry classes that app.css colours, so dark mode
//! follows. The SVG holds shapes only, each chart a `<title>`; labels and numbers are HTML beside
//! it (readable, and measured as text by the layout check).

use std::fmt::Write as _;

use chrono::NaiveDate;

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
        h + 1.0,
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
    }
    out.push_str("</svg>");
    out
}

/// One horizontal bar, `n` of `most` long (open tasks of a project beside the busiest one);
/// its label and number are HTML beside it.
pub fn bar(n: i64, most: i64) -> String {
    let width = if most > 0 { (n as f64 / most as f64 * 100.0).clamp(2.0, 100.0) } else { 2.0 };
    format!(
        "<svg class=\"chart pbar\" viewBox=\"0 0 100 10\" preserveAspectRatio=\"none\" aria-hidden=\"true\">\
         <rect class=\"bar\" x=\"0\" y=\"0\" width=\"{width:.1}\" height=\"10\"/></svg>"
    )
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
        assert!(
            svg.contains("3 of 4 scheduled runs") && svg.contains("stroke-dasharray=\"141.37 47.12\""),
            "{svg}"
        );
        let none = success_ring(0, 0);
        assert!(none.contains("No scheduled runs") && !none.contains("ring-ok"), "{none}");
    }

    #[test]
    fn bars_are_a_share_of_the_longest() {
        assert!(bar(1, 4).contains("width=\"25.0\""));
        assert!(bar(4, 4).contains("width=\"100.0\""));
        assert!(bar(0, 0).contains("width=\"2.0\""), "an empty bar still shows");
        assert!(!bar(1, 2).contains("<text"), "no text in SVG: the labels are HTML");
    }
}
