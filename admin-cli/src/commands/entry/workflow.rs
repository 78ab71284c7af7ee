//! Workflow: `entry publish|submit|approve|…`, `history` and the review `queue`.

use super::*;

pub(super) fn transition(client: &Client, step: &Step, name: &str) -> anyhow::Result<u8> {
    let entry = fetch(client, &step.entry.ty, &step.entry.id)?;
    let real_id = entry["id"].as_str().unwrap_or(&step.entry.id).to_string();
    let mut body = json!({ "transition": name });
    if let Some(c) = &step.comment {
        body["comment"] = json!(c);
    }
    if let Some(at) = &step.at {
        let t = chrono::DateTime::parse_from_rfc3339(at).map_err(|_| {
            anyhow::Error::new(exit::Usage(format!(
                "--at {at:?} is not a time like 2026-12-24T08:00:00+01:00"
            )))
        })?;
        body["at"] = json!(t.to_rfc3339());
    }
    let res = client.send(
        reqwest::Method::POST,
        &format!(
            "/api/v1/manage/{}/{}/transitions",
            enc(&step.entry.ty),
            enc(&real_id)
        ),
        Some(&body),
        None,
    )?;
    let e = &res["data"];
    if let Some(s) = e["scheduled"].as_object() {
        println!(
            "{} {} „{}“: {} is scheduled for {} (now {})",
            step.entry.ty,
            real_id,
            title_of(e),
            s.get("transition").and_then(Value::as_str).unwrap_or(name),
            short_time(s.get("at").unwrap_or(&Value::Null)),
            e["state"].as_str().unwrap_or("")
        );
    } else {
        println!(
            "{} {} „{}“ is now {} (version {})",
            step.entry.ty,
            real_id,
            title_of(e),
            e["state"].as_str().unwrap_or(""),
            e["version"]
        );
    }
    Ok(exit::OK)
}

pub(super) fn history(client: &Client, ty: &str, id: &str, json: bool) -> anyhow::Result<u8> {
    let e = fetch(client, ty, id)?;
    let real_id = e["id"].as_str().unwrap_or(id);
    let res = client.get(&format!(
        "/api/v1/manage/{}/{}/history",
        enc(ty),
        enc(real_id)
    ))?;
    let items = res["data"].as_array().cloned().unwrap_or_default();
    if json {
        output::json(&Value::Array(items))?;
        return Ok(exit::OK);
    }
    println!("{}", output::paint("1", &title_of(&e)));
    println!("{}", output::paint("2", &header_of(ty, &e)));
    for h in &items {
        let when = short_time(&h["at"]);
        let who = h["actor_name"]
            .as_str()
            .or_else(|| h["actor"].as_str())
            .unwrap_or("");
        let role = h["role"]
            .as_str()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        let (from, to) = (
            h["from_state"].as_str().unwrap_or(""),
            h["to_state"].as_str().unwrap_or(""),
        );
        let what = match h["kind"].as_str().unwrap_or("") {
            "create" => format!("created as {to}"),
            "edit" if from != to => format!("edited (version {}) → {to}", h["version"]),
            "edit" => format!("edited (version {})", h["version"]),
            "transition" => format!(
                "{}: {from} → {}",
                h["transition"].as_str().unwrap_or(""),
                output::paint("1", to)
            ),
            "schedule" => format!(
                "scheduled {} for {}",
                h["transition"].as_str().unwrap_or(""),
                short_time(&h["at_planned"])
            ),
            "schedule_failed" => format!(
                "scheduled {} dropped",
                h["transition"].as_str().unwrap_or("")
            ),
            other => other.to_string(),
        };
        println!("{when}  {who}{role}  {what}");
        if let Some(c) = h["comment"].as_str() {
            println!("                  „{c}“");
        }
    }
    if let Some(s) = e["scheduled"].as_object() {
        println!(
            "pending: {} at {}",
            s.get("transition").and_then(Value::as_str).unwrap_or(""),
            short_time(s.get("at").unwrap_or(&Value::Null))
        );
    }
    Ok(exit::OK)
}

pub(super) fn queue(client: &Client, json: bool) -> anyhow::Result<u8> {
    let res = client.get("/api/v1/manage/review-queue")?;
    let items = res["data"].as_array().cloned().unwrap_or_default();
    if json {
        output::json(&Value::Array(items))?;
        return Ok(exit::OK);
    }
    if items.is_empty() {
        println!("nothing waits for you");
        return Ok(exit::OK);
    }
    let now = chrono::Utc::now();
    for e in &items {
        let r = &e["review"];
        let since = r["since"]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
        let age = since
            .map(|t| {
                format!(
                    "waiting {} (since {})",
                    age(now - t.to_utc()),
                    short_time(&r["since"])
                )
            })
            .unwrap_or_default();
        println!(
            "{}  {}  {}  {age}",
            e["type"].as_str().unwrap_or(""),
            e["slug"].as_str().or(e["id"].as_str()).unwrap_or(""),
            output::paint("36", e["state"].as_str().unwrap_or("")),
        );
        println!("  „{}“", title_of(e));
        if let Some(by) = r["by_name"].as_str().or(r["by"].as_str()) {
            match r["comment"].as_str() {
                Some(c) => println!("  from {by}: „{c}“"),
                None => println!("  from {by}"),
            }
        }
        let reviewers: Vec<&str> = r["reviewers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if !reviewers.is_empty() {
            println!("  for: {}", reviewers.join(", "));
        }
    }
    Ok(exit::OK)
}

/// A duration as an editor says it: `5 min`, `3 h`, `2 days`.
fn age(d: chrono::TimeDelta) -> String {
    let m = d.num_minutes().max(0);
    match m {
        0 => "less than a minute".into(),
        1..=59 => format!("{m} min"),
        60..=2879 => format!("{} h", m / 60),
        _ => format!("{} days", m / 1440),
    }
}
