//! The artifacts: e-mail-safe HTML, plain text, the recipient CSV and the summary.

use crate::dates::{date_long, event_when, period};
use crate::model::{Event, Recipient, Story};
use crate::params::Params;
use crate::settings::{Labels, Settings};
use crate::texts::{self, Texts};

/// The placeholder a mail service replaces with each recipient's unsubscribe link.
pub const UNSUBSCRIBE_PLACEHOLDER: &str = "{{unsubscribe_url}}";

/// Everything one issue shows.
pub struct Issue<'a> {
    pub params: &'a Params,
    pub settings: &'a Settings,
    /// The fixed texts in the issue's language ([`texts::for_locale`] of its locale).
    pub texts: &'static Texts,
    pub subject: String,
    pub stories: &'a [Story],
    pub events: &'a [Event],
}

/// HTML-escapes text for element content and (double-quoted) attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn topic_list(topics: &[String], labels: &Labels) -> String {
    topics
        .iter()
        .map(|t| labels.topic(t))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `Erfolgsgeschichte · 10. März 2026`.
fn story_meta(s: &Story, labels: &Labels, t: &Texts) -> String {
    format!(
        "{} · {}",
        labels.kind_or(&s.kind, t.story),
        date_long(s.published.date_naive(), t)
    )
}

/// `Von Dr. Jana Vogt (Geschäftsführerin)`.
fn byline(s: &Story, t: &Texts) -> Option<String> {
    let name = s.author_name.as_ref()?;
    let by = t.by;
    Some(match &s.author_role {
        Some(r) => format!("{by} {name} ({r})"),
        None => format!("{by} {name}"),
    })
}

/// Subject: the setting, else `Newsletter – {Monat Jahr}` of `until` in the language of the
/// issue's locale.
pub fn subject(settings: &Settings, params: &Params) -> String {
    let t = texts::for_locale(&params.locale);
    settings.subject.clone().unwrap_or_else(|| {
        format!(
            "{} – {}",
            t.subject,
            crate::dates::month_year(params.until, t)
        )
    })
}

fn intro(issue: &Issue) -> String {
    let (p, t) = (issue.params, issue.texts);
    let lead = if p.since == p.until {
        t.intro_day
    } else {
        t.intro
    };
    format!("{lead} {}.", period(p.since, p.until, t))
}

fn preheader(issue: &Issue) -> String {
    let t = issue.texts;
    let n = |k: usize, one: &str, many: &str| {
        if k == 1 {
            format!("1 {one}")
        } else {
            format!("{k} {many}")
        }
    };
    format!(
        "{} {} {}",
        n(issue.stories.len(), t.new_story, t.new_stories),
        t.and,
        n(issue.events.len(), t.upcoming_event, t.upcoming_events)
    )
}

// --- HTML ------------------------------------------------------------------------------

const FONT: &str = "font-family:Arial,Helvetica,sans-serif;";
const INK: &str = "#1f2933";
const MUTED: &str = "#52606d";
const BRAND: &str = "#1f3a5f";
const LINK: &str = "#1a56db";
const RULE: &str = "#e4e7eb";

fn p(style: &str, inner: &str) -> String {
    format!("<p style=\"margin:0;{FONT}{style}\">{inner}</p>\n")
}

fn link(url: &str, text: &str, style: &str) -> String {
    format!(
        "<a href=\"{}\" style=\"color:{LINK};{style}\">{}</a>",
        escape(url),
        escape(text)
    )
}

fn row(padding: &str, inner: &str) -> String {
    format!("<tr>\n<td style=\"padding:{padding};\">\n{inner}</td>\n</tr>\n")
}

fn section_heading(text: &str) -> String {
    row(
        "24px 32px 8px 32px",
        &format!(
            "<h2 style=\"margin:0;{FONT}font-size:20px;line-height:26px;color:{BRAND};\
             border-bottom:2px solid {BRAND};padding-bottom:6px;\">{}</h2>\n",
            escape(text)
        ),
    )
}

fn item_title(url: &str, title: &str) -> String {
    format!(
        "<h3 style=\"margin:0 0 8px 0;{FONT}font-size:18px;line-height:24px;\">\
         <a href=\"{}\" style=\"color:{INK};text-decoration:none;\">{}</a></h3>\n",
        escape(url),
        escape(title)
    )
}

fn story_html(s: &Story, settings: &Settings, t: &Texts, first: bool) -> String {
    let url = settings.story_url(&s.slug);
    let mut inner = String::new();
    inner.push_str(&p(
        &format!(
            "margin-bottom:4px;font-size:12px;line-height:18px;color:{MUTED};\
             text-transform:uppercase;letter-spacing:0.5px;"
        ),
        &escape(&story_meta(s, &settings.labels, t)),
    ));
    inner.push_str(&item_title(&url, &s.title));
    if !s.teaser.is_empty() {
        inner.push_str(&p(
            &format!("margin-bottom:8px;font-size:15px;line-height:22px;color:{INK};"),
            &escape(&s.teaser),
        ));
    }
    let mut meta = Vec::new();
    if let Some(b) = byline(s, t) {
        meta.push(escape(&b));
    }
    if !s.topics.is_empty() {
        meta.push(format!(
            "{}: {}",
            escape(t.topics),
            escape(&topic_list(&s.topics, &settings.labels))
        ));
    }
    if !meta.is_empty() {
        inner.push_str(&p(
            &format!("margin-bottom:8px;font-size:13px;line-height:19px;color:{MUTED};"),
            &meta.join(" · "),
        ));
    }
    inner.push_str(&p(
        "font-size:15px;line-height:22px;",
        &format!(
            "{}&nbsp;&#8594;",
            link(
                &url,
                t.read_more,
                "font-weight:bold;text-decoration:underline;"
            )
        ),
    ));
    item_row(&inner, first)
}

fn item_row(inner: &str, first: bool) -> String {
    let border = if first {
        String::new()
    } else {
        format!("border-top:1px solid {RULE};")
    };
    format!(
        "<tr>\n<td style=\"padding:0 32px;\">\n<table role=\"presentation\" width=\"100%\" \
         cellpadding=\"0\" cellspacing=\"0\" border=\"0\">\n<tr>\n<td style=\"padding:16px 0;\
         {border}\">\n{inner}</td>\n</tr>\n</table>\n</td>\n</tr>\n"
    )
}

fn event_html(e: &Event, settings: &Settings, t: &Texts, first: bool) -> String {
    let url = settings.event_url(&e.slug);
    let mut inner = String::new();
    inner.push_str(&p(
        &format!(
            "margin-bottom:4px;font-size:14px;line-height:20px;color:{BRAND};font-weight:bold;"
        ),
        &escape(&event_when(&e.starts, e.ends.as_ref(), &e.timezone, t)),
    ));
    inner.push_str(&item_title(&url, &e.title));
    inner.push_str(&p(
        &format!("margin-bottom:8px;font-size:14px;line-height:20px;color:{MUTED};"),
        &escape(&e.place(t)),
    ));
    if let Some(summary) = &e.summary {
        inner.push_str(&p(
            &format!("margin-bottom:8px;font-size:15px;line-height:22px;color:{INK};"),
            &escape(summary),
        ));
    }
    let mut links = Vec::new();
    if let Some(r) = &e.registration_url {
        links.push(format!(
            "{}&nbsp;&#8594;",
            link(r, t.register, "font-weight:bold;text-decoration:underline;")
        ));
    }
    links.push(link(&url, t.event_details, "text-decoration:underline;"));
    inner.push_str(&p(
        "font-size:15px;line-height:22px;",
        &links.join(" &nbsp;·&nbsp; "),
    ));
    item_row(&inner, first)
}

/// The issue as e-mail-safe HTML: nested tables, inline styles only, at most 600 px
/// wide, no images, scripts, external styles or fonts; every text escaped. The footer's
/// unsubscribe link is [`UNSUBSCRIBE_PLACEHOLDER`].
pub fn html(issue: &Issue) -> String {
    let s = issue.settings;
    let t = issue.texts;
    let mut body = String::new();
    // Header.
    let mut head = String::new();
    head.push_str(&p(
        "margin-bottom:8px;font-size:12px;line-height:18px;color:#c9d6e8;\
         text-transform:uppercase;letter-spacing:1px;",
        &escape(&s.organisation),
    ));
    head.push_str(&format!(
        "<h1 style=\"margin:0;{FONT}font-size:26px;line-height:32px;color:#ffffff;\">{}</h1>\n",
        escape(&issue.subject)
    ));
    body.push_str(&format!(
        "<tr>\n<td style=\"padding:28px 32px;background-color:{BRAND};\">\n{head}</td>\n</tr>\n"
    ));
    // Intro.
    let mut intro_html = p(
        &format!("font-size:15px;line-height:22px;color:{INK};"),
        &escape(&intro(issue)),
    );
    if let Some(topics) = &issue.params.topics {
        intro_html.push_str(&p(
            &format!("margin-top:6px;font-size:14px;line-height:20px;color:{MUTED};"),
            &format!(
                "{}: {}",
                escape(t.issue_topics),
                escape(&topic_list(topics, &s.labels))
            ),
        ));
    }
    body.push_str(&row("24px 32px 0 32px", &intro_html));
    if !issue.stories.is_empty() {
        body.push_str(&section_heading(t.stories_heading));
        for (i, st) in issue.stories.iter().enumerate() {
            body.push_str(&story_html(st, s, t, i == 0));
        }
    }
    if !issue.events.is_empty() {
        body.push_str(&section_heading(t.events_heading));
        for (i, e) in issue.events.iter().enumerate() {
            body.push_str(&event_html(e, s, t, i == 0));
        }
    }
    if issue.stories.is_empty() && issue.events.is_empty() {
        body.push_str(&row(
            "24px 32px 0 32px",
            &p(
                &format!("font-size:15px;line-height:22px;color:{INK};"),
                &escape(t.empty_note),
            ),
        ));
    }
    // Footer.
    let small = format!("margin-bottom:8px;font-size:12px;line-height:18px;color:{MUTED};");
    let mut foot = String::new();
    foot.push_str(&p(&small, &escape(t.why)));
    foot.push_str(&p(
        &small,
        &format!(
            "{} <a href=\"{UNSUBSCRIBE_PLACEHOLDER}\" style=\"color:{LINK};\
             text-decoration:underline;\">{}</a>",
            escape(t.leave),
            escape(t.unsubscribe)
        ),
    ));
    let mut org = escape(&s.organisation);
    if let Some(a) = &s.address {
        org.push_str(" · ");
        org.push_str(&escape(a));
    }
    foot.push_str(&p(&small, &org));
    let mut links = vec![link(&s.website, t.website, "text-decoration:underline;")];
    if let Some(u) = &s.privacy_url {
        links.push(link(u, t.privacy, "text-decoration:underline;"));
    }
    foot.push_str(&p(
        &format!("font-size:12px;line-height:18px;color:{MUTED};"),
        &links.join(" · "),
    ));
    body.push_str(&format!(
        "<tr>\n<td style=\"padding:24px 32px;background-color:#f7f8fa;\
         border-top:1px solid {RULE};\">\n{foot}</td>\n</tr>\n"
    ));

    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\n\
         <title>{title}</title>\n</head>\n\
         <body style=\"margin:0;padding:0;background-color:#eef1f4;\">\n\
         <div style=\"display:none;max-height:0;overflow:hidden;mso-hide:all;\">{pre}</div>\n\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" \
         border=\"0\" style=\"background-color:#eef1f4;\">\n<tr>\n\
         <td align=\"center\" style=\"padding:24px 8px;\">\n\
         <table role=\"presentation\" width=\"600\" cellpadding=\"0\" cellspacing=\"0\" \
         border=\"0\" style=\"width:100%;max-width:600px;background-color:#ffffff;\
         border-collapse:collapse;\">\n{body}</table>\n</td>\n</tr>\n</table>\n</body>\n</html>\n",
        lang = escape(&issue.params.locale),
        title = escape(&issue.subject),
        pre = escape(&preheader(issue)),
    )
}

// --- plain text ------------------------------------------------------------------------

/// Word-wraps `text` at `width` characters (words longer than that stay whole).
pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    let mut len = 0;
    for word in text.split_whitespace() {
        let wl = word.chars().count();
        if len > 0 && len + 1 + wl > width {
            out.push_str(&line);
            out.push('\n');
            line.clear();
            len = 0;
        }
        if len > 0 {
            line.push(' ');
            len += 1;
        }
        line.push_str(word);
        len += wl;
    }
    out.push_str(&line);
    out
}

fn underline(text: &str, c: char) -> String {
    format!("{text}\n{}\n", c.to_string().repeat(text.chars().count()))
}

/// The issue as plain text (72 columns, URLs on lines of their own).
/// `text` wrapped to the text part's width, as its own line(s).
fn para(out: &mut String, text: &str) {
    out.push_str(&wrap(text, TEXT_WIDTH));
    out.push('\n');
}

/// Width of the text part's lines.
const TEXT_WIDTH: usize = 72;

pub fn text(issue: &Issue) -> String {
    let s = issue.settings;
    let t = issue.texts;
    let mut out = String::new();
    para(&mut out, &s.organisation);
    out.push_str(&underline(&issue.subject, '='));
    out.push('\n');
    para(&mut out, &intro(issue));
    if let Some(topics) = &issue.params.topics {
        para(
            &mut out,
            &format!("{}: {}", t.issue_topics, topic_list(topics, &s.labels)),
        );
    }
    if !issue.stories.is_empty() {
        out.push('\n');
        out.push_str(&underline(&t.stories_heading.to_uppercase(), '-'));
        for st in issue.stories {
            out.push('\n');
            para(&mut out, &st.title);
            out.push_str(&story_meta(st, &s.labels, t));
            out.push('\n');
            if !st.teaser.is_empty() {
                out.push('\n');
                para(&mut out, &st.teaser);
            }
            if let Some(b) = byline(st, t) {
                para(&mut out, &b);
            }
            if !st.topics.is_empty() {
                para(
                    &mut out,
                    &format!("{}: {}", t.topics, topic_list(&st.topics, &s.labels)),
                );
            }
            out.push_str(&format!("{}: {}\n", t.read_more, s.story_url(&st.slug)));
        }
    }
    if !issue.events.is_empty() {
        out.push('\n');
        out.push_str(&underline(&t.events_heading.to_uppercase(), '-'));
        for e in issue.events {
            out.push('\n');
            para(&mut out, &e.title);
            para(
                &mut out,
                &event_when(&e.starts, e.ends.as_ref(), &e.timezone, t),
            );
            para(&mut out, &e.place(t));
            if let Some(summary) = &e.summary {
                out.push('\n');
                para(&mut out, summary);
            }
            if let Some(r) = &e.registration_url {
                out.push_str(&format!("{}: {r}\n", t.register));
            }
            out.push_str(&format!("{}: {}\n", t.details, s.event_url(&e.slug)));
        }
    }
    if issue.stories.is_empty() && issue.events.is_empty() {
        out.push('\n');
        para(&mut out, t.empty_note);
    }
    out.push_str("\n-- \n");
    para(&mut out, t.why);
    para(&mut out, t.leave);
    out.push_str(&format!("{}: {UNSUBSCRIBE_PLACEHOLDER}\n\n", t.unsubscribe));
    para(&mut out, &s.organisation);
    if let Some(a) = &s.address {
        para(&mut out, a);
    }
    out.push_str(&format!("{}: {}\n", t.website, s.website));
    if let Some(u) = &s.privacy_url {
        out.push_str(&format!("{}: {u}\n", t.privacy));
    }
    out
}

// --- CSV -------------------------------------------------------------------------------

/// One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF (or starts or
/// ends with a space); quotes doubled.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `email,name,unsubscribe_url`, one line per recipient, CRLF line ends.
pub fn recipients_csv(recipients: &[Recipient], settings: &Settings) -> String {
    let mut out = String::from("email,name,unsubscribe_url\r\n");
    for r in recipients {
        out.push_str(&format!(
            "{},{},{}\r\n",
            csv_field(&r.email),
            csv_field(r.name.as_deref().unwrap_or("")),
            csv_field(&settings.unsubscribe_url(&r.unsubscribe_token))
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            escape("<script>alert(\"x\" & 'y')</script>"),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(escape("Größe – „ok“"), "Größe – „ok“");
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field(""), "");
        assert_eq!(csv_field("Wendt, Anna"), "\"Wendt, Anna\"");
        assert_eq!(csv_field("Anna \"AW\" Wendt"), "\"Anna \"\"AW\"\" Wendt\"");
        assert_eq!(csv_field("a\nb"), "\"a\nb\"");
        assert_eq!(csv_field("a\rb"), "\"a\rb\"");
        let s = crate::settings::Settings::from_lookup(|_| None);
        let csv = recipients_csv(
            &[
                Recipient {
                    email: "anna@example.org".into(),
                    name: Some("Wendt, Anna".into()),
                    unsubscribe_token: "t1".into(),
                },
                Recipient {
                    email: "b@example.org".into(),
                    name: None,
                    unsubscribe_token: "t/2".into(),
                },
            ],
            &s,
        );
        assert_eq!(
            csv,
            "email,name,unsubscribe_url\r\n\
             anna@example.org,\"Wendt, Anna\",http://127.0.0.1:8080/api/v1/newsletter/unsubscribe?token=t1\r\n\
             b@example.org,,http://127.0.0.1:8080/api/v1/newsletter/unsubscribe?token=t%2F2\r\n"
        );
    }

    #[test]
    fn wrapping() {
        assert_eq!(wrap("a b c", 3), "a b\nc");
        assert_eq!(wrap("  eins   zwei  ", 72), "eins zwei");
        assert_eq!(
            wrap("Überlänge xxxxxxxxxx y", 5),
            "Überlänge\nxxxxxxxxxx\ny"
        );
        assert_eq!(wrap("äöü äöü", 7), "äöü äöü");
    }

    #[test]
    fn labels_come_from_the_schema() {
        let l = crate::tests::schema_labels();
        assert_eq!(l.topic("iot"), "Internet der Dinge (IoT)");
        assert_eq!(l.topic("neu"), "neu");
        assert_eq!(l.kind("success_story"), "Erfolgsgeschichte");
        assert_eq!(l.kind("unbekannt"), "Geschichte");
    }
}
