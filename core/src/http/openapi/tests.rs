use super::*;

fn doc() -> Value {
    document(&SchemaRegistry::builtin())
}

fn walk<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r);
            }
            m.values().for_each(|c| walk(c, out));
        }
        Value::Array(a) => a.iter().for_each(|c| walk(c, out)),
        _ => {}
    }
}

/// Every code a description names in parentheses, like "(version_conflict)", is in the
/// error table, so the document cannot promise a code the server does not have.
#[test]
fn described_codes_are_in_the_error_table() {
    let text = doc().to_string();
    let names: BTreeSet<&str> = super::super::Code::ALL.iter().map(|c| c.name()).collect();
    let mut unknown = BTreeSet::new();
    for part in text.split('(').skip(1) {
        let Some(word) = part.split(')').next() else {
            continue;
        };
        let is_code =
            word.contains('_') && word.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        if is_code && !names.contains(word) {
            unknown.insert(word.to_string());
        }
    }
    assert!(unknown.is_empty(), "codes not in codes.rs: {unknown:?}");
}

/// Which paths and methods there are is checked against the router itself
/// (`http::tests::the_document_lists_exactly_the_routes_of_the_router`).
#[test]
fn is_openapi_3_1_without_generic_type_paths() {
    let d = doc();
    assert_eq!(d["openapi"], "3.1.0");
    assert_eq!(d["info"]["title"], "Verbund API");
    assert_eq!(d["servers"][0]["url"], "/");
    let paths = d["paths"].as_object().unwrap();
    assert!(
        paths.keys().all(|p| !p.contains("{type}")),
        "{:?}",
        paths.keys()
    );
}

#[test]
fn every_operation_is_named_tagged_and_limited() {
    let d = doc();
    let mut ids = BTreeSet::new();
    for (path, item) in d["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            let id = op["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_string()), "duplicate operationId {id}");
            assert!(op["summary"].is_string(), "{method} {path}");
            let tag = op["tags"][0].as_str().unwrap();
            assert!(
                [
                    "delivery",
                    "management",
                    "media",
                    "admin",
                    "newsletter",
                    "ops"
                ]
                .contains(&tag),
                "{tag}"
            );
            for status in ["408", "413", "429", "503"] {
                assert!(
                    op["responses"].get(status).is_some(),
                    "{method} {path} lacks {status}"
                );
            }
            // A token is checked before anything else: every operation that takes one
            // documents 401.
            if op["security"].to_string().contains("bearerAuth") {
                assert!(op["responses"].get("401").is_some(), "{method} {path}");
            }
            // JSON bodies are refused in other media types.
            if op["requestBody"]["content"]
                .get("application/json")
                .is_some()
            {
                assert!(op["responses"].get("415").is_some(), "{method} {path}");
            }
        }
    }
    assert!(ids.contains("listContentStory") && ids.contains("createEntryMember"));
}

/// Whether `value` matches `pattern` as a JSON Schema validator reads it.
fn matches(pattern: &str, value: &str) -> bool {
    jsonschema::validator_for(&json!({"type": "string", "pattern": pattern}))
        .unwrap()
        .is_valid(&json!(value))
}

#[test]
fn token_expiry_pattern_is_what_the_server_accepts() {
    let mut samples: Vec<String> = [
        "never",
        "Never",
        "never ",
        " 90d",
        "90d",
        "90D",
        "d",
        "5",
        "5dd",
        "-1d",
        "+1d",
        "1.5d",
        "0d",
        "00d",
        "0001d",
        "1w",
        "",
        "18446744073709551616d",
        "99999999999999999999s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (unit, max) in [
        ("d", 36_500u64),
        ("h", 876_000),
        ("m", 52_560_000),
        ("s", 3_153_600_000),
    ] {
        for n in [
            1,
            9,
            10,
            99,
            100,
            max / 7,
            max / 2,
            max - 1,
            max,
            max + 1,
            max * 10,
        ] {
            samples.push(format!("{n}{unit}"));
            samples.push(format!("000{n}{unit}"));
        }
        // Every boundary of each digit of the maximum.
        let digits = max.to_string();
        for i in 0..digits.len() {
            for d in 0..=9u8 {
                let mut v = digits.clone().into_bytes();
                v[i] = b'0' + d;
                samples.push(format!("{}{unit}", String::from_utf8(v).unwrap()));
            }
        }
    }
    for s in samples {
        let server = crate::auth::parse_duration(&s).is_ok();
        assert_eq!(matches(EXPIRES_PATTERN, &s), server, "expires {s:?}");
    }
}

#[test]
fn grant_and_if_match_patterns() {
    for (grants, ok) in [
        ("read:story", true),
        ("read:story, read:subscriber+personal", true),
        (",read:story,,", true),
        ("", true),
        ("write:story", false),
        ("read:", false),
        ("read:Story", false),
        ("read:story+private", false),
    ] {
        assert_eq!(matches(GRANT_PATTERN, grants), ok, "{grants:?}");
        let server = grants
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .all(|p| crate::plugin::Grant::parse(p).is_ok());
        assert_eq!(server, ok, "{grants:?}");
    }
    for (v, ok) in [
        ("\"3\"", true),
        ("3", true),
        ("W/\"3\"", true),
        (" \"+0003\" ", true),
        ("\"18446744073709551615\"", false),
        ("\"9999999999999999999\"", true),
        ("\"-1\"", false),
        ("\"3\", \"4\"", false),
        ("*", false),
    ] {
        assert_eq!(matches(IF_MATCH_PATTERN, v), ok, "{v:?}");
    }
}

#[test]
fn type_dependent_query_parameters_name_the_fields_of_public_types() {
    let d = doc();
    let p = &d["components"]["parameters"];
    let fields = p["FieldsStory"]["schema"]["pattern"].as_str().unwrap();
    assert!(matches(fields, "title, slug"));
    assert!(matches(fields, "id,,version"));
    assert!(!matches(fields, "nope"));
    assert!(!matches(fields, "city"), "a field of member, not of story");
    let fields = p["FieldsMember"]["schema"]["pattern"].as_str().unwrap();
    assert!(matches(fields, "name,city"));
    assert!(
        !matches(fields, "contact_email"),
        "personal fields are not deliverable"
    );
    let sort = p["SortStory"]["schema"]["pattern"].as_str().unwrap();
    assert!(matches(sort, "-published_at,+title"));
    assert!(!matches(sort, "--title"));
    let include = p["IncludeStory"]["schema"]["pattern"].as_str().unwrap();
    assert!(matches(include, "members"));
    assert!(!matches(include, "title"));
    let filters = &p["ManageFilterSubscriber"]["schema"]["properties"];
    assert!(filters.get("email").is_some() && filters.get("locale").is_some());
    assert!(
        p.get("FieldsSubscriber").is_none(),
        "no delivery of a personal type"
    );
    let filters = &p["DeliveryFilterStory"]["schema"];
    assert_eq!(filters["additionalProperties"], false);
    assert!(filters["properties"].get("email").is_none());
    assert_eq!(filters["properties"]["topics"]["type"], "string");
    // Each filter takes the text its field's kind parses from.
    let at = &filters["properties"]["published_at"];
    assert_eq!(at["anyOf"][0]["format"], "date-time", "{at}");
    let number = p["DeliveryFilterCooperation"]["schema"]["properties"]["year"]["pattern"]
        .as_str()
        .unwrap();
    for ok in ["2026", "-2.5", "1e3", ".5", "inf", "NaN"] {
        assert!(matches(number, ok), "{ok}");
        assert!(ok.parse::<f64>().is_ok());
    }
    for bad in ["", " 3", "3,4", "1e", "0x10", "--1"] {
        assert!(!matches(number, bad), "{bad}");
        assert!(bad.parse::<f64>().is_err(), "{bad}");
    }
    // Lists are bounded as the server bounds them.
    let four = "title,title,title,title";
    assert!(matches(sort, four) && !matches(sort, &format!("{four},title")));
    // The per-type paths use them, with the type's own schemas.
    let list = &d["paths"]["/api/v1/content/story"]["get"];
    assert_eq!(list["operationId"], "listContentStory");
    let text = list.to_string();
    assert!(
        text.contains("#/components/parameters/FieldsStory"),
        "{text}"
    );
    assert!(text.contains("#/components/schemas/StoryPublic"), "{text}");
    assert!(
        !text.contains("AnyPublic") && !text.contains("DeliveryType"),
        "{text}"
    );
    assert!(d["paths"].get("/api/v1/content/subscriber").is_none());
    let create = d["paths"]["/api/v1/manage/member"]["post"].to_string();
    assert!(
        create.contains("#/components/schemas/MemberCreate"),
        "{create}"
    );
}

#[test]
fn personal_data_stays_out_of_public_schemas() {
    let d = doc();
    let s = &d["components"]["schemas"];
    let public = s["MemberPublic"].to_string();
    assert!(!public.contains("contact_email"), "{public}");
    assert!(!public.contains("contact_phone"));
    assert!(public.contains("\"city\""));
    assert!(s["MemberEntry"].to_string().contains("contact_email"));
    assert!(!s["StoryPublic"].to_string().contains("contact_email"));
    assert!(s["StoryPublic"]["properties"]["title"].is_object());
    // Personal types have no public schema and no delivery path.
    assert!(s.get("SubscriberPublic").is_none());
    assert!(s.get("SubscriberEntry").is_some());
    let paths = &d["paths"];
    assert!(paths.get("/api/v1/content/subscriber").is_none());
    assert!(
        paths
            .get("/api/v1/content/subscriber/{id_or_slug}")
            .is_none()
    );
    assert!(paths.get("/api/v1/content/story").is_some());
    assert!(paths.get("/api/v1/manage/subscriber/{id}").is_some());
}

#[test]
fn type_schemas_use_components_for_common_definitions() {
    let d = doc();
    let s = &d["components"]["schemas"];
    let story = &s["StoryFields"];
    assert!(story.get("$schema").is_none() && story.get("$id").is_none());
    assert_eq!(
        story["properties"]["slug"]["$ref"],
        "#/components/schemas/Common_slug"
    );
    assert_eq!(
        s["Common_topics"]["items"]["$ref"],
        "#/components/schemas/Common_topic"
    );
    assert_eq!(s["StoryCreate"]["additionalProperties"], false);
    assert!(s["StoryCreate"]["properties"]["locale"].is_object());
    assert!(s["StoryReplace"]["properties"]["version"].is_object());
}

#[test]
fn every_ref_resolves_inside_the_document() {
    let d = doc();
    let mut refs = Vec::new();
    walk(&d, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external $ref {r}"));
        assert!(d.pointer(pointer).is_some(), "dangling $ref {r}");
    }
}
