//! The model's Markdown, rendered to HTML and sanitised: the text is untrusted (a prompt
//! injection can make a model write `<script>` or a `javascript:` link), so only a small set of
//! tags and `http`, `https` and `mailto` links survive, and links open in a new tab without
//! handing the page to it (`rel="noopener noreferrer nofollow"`).
//!
//! A reply being written is rendered by the same function, again and again as it grows (the
//! Chat page's stream), so any prefix of a reply must render safely and sensibly: an unclosed
//! code fence is a code block so far, a half-written `**` or link stays text.

use std::collections::HashSet;

use pulldown_cmark::{Options, Parser, html};

/// Markdown to safe HTML.
pub fn render(text: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut raw = String::with_capacity(text.len() * 3 / 2);
    html::push_html(&mut raw, Parser::new_ext(text, options));
    sanitise(&raw)
}

fn sanitise(html: &str) -> String {
    let tags: HashSet<&str> = [
        "a",
        "p",
        "br",
        "hr",
        "strong",
        "em",
        "del",
        "code",
        "pre",
        "blockquote",
        "ul",
        "ol",
        "li",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "input",
        "span",
    ]
    .into_iter()
    .collect();
    ammonia::Builder::default()
        .tags(tags)
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .link_rel(Some("noopener noreferrer nofollow"))
        .set_tag_attribute_value("a", "target", "_blank")
        .add_tag_attributes("code", ["class"])
        // A task list's box, and nothing else: any `<input>` (a model can write
        // `<input type=password>` or a submit button) becomes a disabled checkbox.
        .add_tag_attributes("input", ["checked"])
        .set_tag_attribute_value("input", "type", "checkbox")
        .set_tag_attribute_value("input", "disabled", "")
        .add_tag_attributes("th", ["align"])
        .add_tag_attributes("td", ["align"])
        .attribute_filter(|_, attribute, value| match attribute {
            "class" => code_language(value).map(Into::into),
            _ => Some(value.into()),
        })
        .clean(html)
        .to_string()
}

/// The only classes kept: a code block's `language-*`, which names its language. Any other
/// class could borrow the look of Steward's own interface (a fake toast or button).
fn code_language(classes: &str) -> Option<String> {
    let kept: Vec<&str> = classes
        .split_ascii_whitespace()
        .filter(|c| {
            c.strip_prefix("language-").is_some_and(|lang| {
                !lang.is_empty() && lang.chars().all(|ch| ch.is_ascii_alphanumeric() || "+#._-".contains(ch))
            })
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_renders() {
        let html = render("# Plan\n\n**Bold** and `code`\n\n```rust\nfn main() {}\n```\n\n- [x] done");
        assert!(html.contains("<h1>Plan</h1>") && html.contains("<strong>Bold</strong>"), "{html}");
        assert!(html.contains("<code class=\"language-rust\">fn main() {}"), "{html}");
        assert!(html.contains("checked"), "{html}");
    }

    #[test]
    fn hostile_markdown_is_defused() {
        for (input, banned) in [
            ("<script>alert(1)</script>", "<script"),
            ("[click](javascript:alert(1))", "javascript:"),
            ("<img src=x onerror=alert(1)>", "onerror"),
            ("<a href=\"https://x\" onclick=\"evil()\">x</a>", "onclick"),
            ("[x](data:text/html;base64,PHNjcmlwdD4=)", "data:"),
            ("<iframe src=\"https://evil\"></iframe>", "<iframe"),
            ("<style>body{display:none}</style>", "<style"),
            ("![t](https://tracker.example/pixel.png)", "<img"),
        ] {
            let html = render(input);
            assert!(!html.to_lowercase().contains(banned), "{input} -> {html}");
        }
        let html = render("[docs](https://example.org/a?b=1)");
        assert!(
            html.contains("href=\"https://example.org/a?b=1\"")
                && html.contains("target=\"_blank\"")
                && html.contains("noopener"),
            "{html}"
        );
    }

    #[test]
    fn only_disabled_checkboxes_and_language_classes_survive() {
        let html = render("- [x] done\n- [ ] open");
        assert_eq!(html.matches("type=\"checkbox\"").count(), 2, "{html}");
        assert_eq!(html.matches("checked").count(), 1, "{html}");
        for input in [
            "<input type=submit value=\"Pay now\">",
            "<input type=password name=p placeholder=\"Your password\">",
            "<input value=\"look-alike\">",
            "<input type=checkbox form=x formaction=https://evil.example name=n>",
            "<p><input type=\"image\" src=\"https://evil.example/x.png\"></p>",
        ] {
            let html = render(input);
            for tag in tags_in(&html).into_iter().filter(|t| t.starts_with("input")) {
                let mut attrs: Vec<&str> = tag.split_whitespace().skip(1).collect();
                attrs.sort_unstable();
                assert_eq!(attrs, ["disabled=\"\"", "type=\"checkbox\""], "{input} -> {html}");
            }
        }
        for (input, expected) in [
            ("```rust\nfn main() {}\n```", Some("language-rust")),
            ("```c++\nint x;\n```", Some("language-c++")),
            ("<code class=\"toast error language-sh\">x</code>", Some("language-sh")),
            ("<code class=\"toast error\">x</code>", None),
            ("<span class=\"toast error\">Saved</span>", None),
            ("<p class=\"toast\">Saved</p>", None),
        ] {
            let html = render(input);
            let class = html.split("class=\"").nth(1).and_then(|rest| rest.split('"').next());
            assert_eq!(class, expected, "{input} -> {html}");
        }
    }

    #[test]
    fn every_prefix_of_a_reply_renders_safely() {
        let reply = "Sure. **Plan**:\n\n1. [docs](https://example.org) and [x](javascript:alert(1))\n\
            2. <script>alert(1)</script> <img src=x onerror=alert(2)> <a href=\"javascript:alert(3)\">y</a>\n\n\
            ```rust\nfn main() { println!(\"<b>hi</b>\"); }\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n";
        let cuts = reply.char_indices().map(|(i, _)| i).chain([reply.len()]);
        for cut in cuts {
            let html = render(&reply[..cut]);
            for tag in tags_in(&html) {
                let name = tag.split_whitespace().next().unwrap_or_default().trim_start_matches('/');
                assert!(ALLOWED.contains(&name), "<{tag}> from {:?}", &reply[..cut]);
                assert!(
                    !tag.contains(" on") && !tag.contains("javascript"),
                    "<{tag}> from {:?}",
                    &reply[..cut]
                );
            }
        }
    }

    const ALLOWED: &[&str] =
        &["p", "strong", "em", "ol", "li", "a", "pre", "code", "table", "thead", "tbody", "tr", "th", "td"];

    /// The insides of the tags in `html` (`a href="..."`, `/p`): text has `<` escaped.
    fn tags_in(html: &str) -> Vec<&str> {
        html.split('<').skip(1).filter_map(|rest| rest.split_once('>').map(|(tag, _)| tag)).collect()
    }

    #[test]
    fn half_written_markdown_reads_sensibly() {
        // An unclosed fence is code so far, not paragraphs of raw text.
        let html = render("Try this:\n\n```rust\nfn main() {\n    let x = 1;");
        assert!(html.contains("<pre><code class=\"language-rust\">fn main() {\n    let x = 1;"), "{html}");
        // Emphasis and links not yet closed show as what was typed so far.
        assert_eq!(render("Some **bol"), "<p>Some **bol</p>\n");
        assert_eq!(render("See [the docs](https://exa"), "<p>See [the docs](https://exa</p>\n");
        // A list keeps its items while the next one is being written.
        let html = render("1. Rest\n2. Wa");
        assert!(html.contains("<li>Rest</li>") && html.contains("<li>Wa</li>"), "{html}");
    }
}
