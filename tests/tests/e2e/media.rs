//! Media over HTTP, on both blob backends (a directory and an S3 bucket on a local S3 server):
//! upload → entry → delivery with preset URLs and a signed `srcset`; location data written
//! into a photo with `exiftool` gone from the stored original and every rendition; hostile
//! uploads (a 20,000×20,000 PNG bomb, polyglots, SVG with script, a PDF with JavaScript)
//! refused; unsigned custom sizes refused; a referenced asset kept; publishing without alt
//! text refused; unused files collected; photos of a person erased with the person; the CLI.

use std::io::Cursor;
use std::path::Path;
use std::process::Command;

use reqwest::Method;
use serde_json::{Value, json};
use verbund_core::media::Blobs;
use verbund_tests::{Api, TestApp, media_backends, ok, run_cli, story};

fn start(blobs: Blobs) -> (TestApp, String, String) {
    let app = TestApp::builder()
        .tokens(&["editor", "admin"])
        .media(blobs)
        .start();
    let (editor, admin) = (app.tokens["editor"].clone(), app.tokens["admin"].clone());
    (app, editor, admin)
}

/// A photo-like JPEG of 1600×1200.
fn photo() -> Vec<u8> {
    let img = image::RgbImage::from_fn(1600, 1200, |x, y| {
        image::Rgb([(x / 7) as u8, (y / 5) as u8, ((x + y) / 11) as u8])
    });
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg)
        .unwrap();
    out
}

fn exiftool(args: &[&str], file: &Path) -> std::process::Output {
    let out = Command::new("exiftool")
        .args(args)
        .arg(file)
        .output()
        .expect("exiftool runs (Debian: libimage-exiftool-perl)");
    assert!(
        out.status.success(),
        "exiftool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every tag exiftool finds in `bytes`, as `group:tag` → value.
fn tags(bytes: &[u8], dir: &Path) -> serde_json::Map<String, Value> {
    let f = dir.join(format!("probe-{}", ulid::Ulid::new()));
    std::fs::write(&f, bytes).unwrap();
    let out = exiftool(&["-json", "-n", "-a", "-G1"], &f);
    let v: Value = serde_json::from_slice(&out.stdout).expect("exiftool JSON");
    v[0].as_object().cloned().unwrap_or_default()
}

fn location_tags(t: &serde_json::Map<String, Value>) -> Vec<String> {
    t.iter()
        .filter(|(k, v)| {
            k.contains("GPS")
                || k.ends_with(":Artist")
                || k.ends_with(":Creator")
                || v.as_str().is_some_and(|s| s.contains("Anna Beispiel"))
        })
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

fn fetch(
    url: &str,
    accept: &str,
    token: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = reqwest::blocking::Client::new()
        .get(url)
        .header("accept", accept);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().expect("GET");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.bytes().expect("body").to_vec())
}

fn upload(api: &Api, token: &str, query: &str, bytes: Vec<u8>) -> verbund_tests::Res {
    api.send(
        Method::POST,
        &format!("/api/v1/manage/assets?{query}"),
        Some(token),
        &[("content-type", "application/octet-stream")],
        Some(bytes),
    )
}

fn dims(bytes: &[u8]) -> (u32, u32) {
    image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .unwrap()
        .into_dimensions()
        .unwrap()
}

#[test]
fn a_photo_goes_from_upload_to_delivery_without_its_location() {
    let tmp = tempfile::tempdir().unwrap();
    for (backend, blobs) in media_backends(tmp.path()) {
        let (app, editor, _) = start(blobs);
        let api = Api::of(&app);
        // A phone photo: location, photographer, and turned on its side (orientation 6).
        let file = tmp.path().join(format!("{backend}-sommerfest.jpg"));
        std::fs::write(&file, photo()).unwrap();
        exiftool(
            &[
                "-overwrite_original",
                "-n",
                "-GPSLatitude=51.4825",
                "-GPSLatitudeRef=N",
                "-GPSLongitude=11.9697",
                "-GPSLongitudeRef=E",
                "-Artist=Anna Beispiel",
                "-XMP-dc:Creator=Anna Beispiel",
                "-Orientation=6",
            ],
            &file,
        );
        let input = std::fs::read(&file).unwrap();
        assert!(
            !location_tags(&tags(&input, tmp.path())).is_empty(),
            "the test photo carries location data before the upload"
        );

        let res = upload(
            &api,
            &editor,
            "filename=sommerfest.jpg&alt=G%C3%A4ste%20beim%20Sommerfest&credit=Foto%3A%20Redaktion",
            input,
        )
        .expect(201);
        let asset = res.body["data"].clone();
        let id = asset["id"].as_str().unwrap().to_string();
        assert_eq!(asset["media_type"], "image/jpeg", "{backend}");
        // Orientation 6 is a quarter turn: the stored picture stands upright.
        assert_eq!(
            (asset["width"].as_u64(), asset["height"].as_u64()),
            (Some(1200), Some(1600)),
            "{backend}"
        );
        assert_eq!(asset["alt"]["de"], "Gäste beim Sommerfest");
        assert_eq!(asset["public"], false, "no published entry shows it yet");

        // Not public while only a draft shows it.
        let original = format!("{}{}", app.url, asset["urls"]["url"].as_str().unwrap());
        let (status, _, _) = fetch(&original, "*/*", None);
        assert_eq!(status, 404, "{backend}: the asset of a draft is not public");
        let mut fields = story(1);
        fields["image"] = json!(id);
        let entry = api.create(&editor, "story", &fields);
        let sid = entry["id"].as_str().unwrap().to_string();
        let (status, _, _) = fetch(&original, "*/*", None);
        assert_eq!(status, 404, "{backend}: a draft's image stays private");
        let (status, _, _) = fetch(&original, "*/*", Some(&editor));
        assert_eq!(status, 200, "{backend}: staff see it");
        api.transition(&editor, "story", &sid, "published");

        // The delivery answer carries the asset's URLs.
        let d = api
            .get(&format!("/api/v1/content/story/{sid}"), None)
            .expect(200);
        let delivered = &d.body["assets"][&id];
        assert_eq!(delivered["alt"]["de"], "Gäste beim Sommerfest", "{backend}");
        assert!(delivered.get("consent").is_none());
        assert!(
            d.header("surrogate-key")
                .unwrap()
                .contains(&format!("asset/{id}"))
        );
        let card = delivered["presets"]["card"]["url"].as_str().unwrap();
        let srcset = delivered["srcset"].as_str().unwrap();
        assert_eq!(
            srcset.split(", ").count(),
            4,
            "320, 640, 960 and the full 1200: {srcset}"
        );

        let (status, headers, original_bytes) = fetch(&original, "*/*", None);
        assert_eq!(status, 200, "{backend}");
        assert_eq!(headers["content-type"], "image/jpeg");
        assert_eq!(
            headers["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(
            dims(&original_bytes),
            (1200, 1600),
            "{backend}: orientation applied to the pixels"
        );
        let left = location_tags(&tags(&original_bytes, tmp.path()));
        assert!(
            left.is_empty(),
            "{backend}: the stored original keeps {left:?}"
        );
        assert!(
            tags(&original_bytes, tmp.path())
                .keys()
                .all(|k| !k.ends_with(":Orientation")),
            "no orientation tag is left to turn it twice"
        );

        let (status, headers, webp) = fetch(&format!("{}{card}", app.url), "image/webp,*/*", None);
        assert_eq!(status, 200, "{backend}");
        assert_eq!(headers["content-type"], "image/webp");
        assert_eq!(headers["vary"], "Accept");
        assert_eq!(dims(&webp), (640, 360), "{backend}: the card preset");
        let etag = headers["etag"].to_str().unwrap().to_string();
        let res = reqwest::blocking::Client::new()
            .get(format!("{}{card}", app.url))
            .header("accept", "image/webp")
            .header("if-none-match", &etag)
            .send()
            .unwrap();
        assert_eq!(res.status().as_u16(), 304);

        let (_, headers, jpeg) = fetch(&format!("{}{card}", app.url), "image/jpeg", None);
        assert_eq!(
            headers["content-type"], "image/jpeg",
            "{backend}: negotiated"
        );
        let (_, headers, avif) = fetch(&format!("{}{card}&fm=avif", app.url), "*/*", None);
        assert_eq!(headers["content-type"], "image/avif", "{backend}");
        let small = srcset
            .split(", ")
            .next()
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        let (status, _, srcset_webp) = fetch(&format!("{}{small}", app.url), "image/webp", None);
        assert_eq!(status, 200, "{backend}: a signed srcset URL");
        assert_eq!(dims(&srcset_webp), (320, 427));
        for (what, bytes) in [
            ("webp", &webp),
            ("jpeg", &jpeg),
            ("avif", &avif),
            ("srcset", &srcset_webp),
        ] {
            let left = location_tags(&tags(bytes, tmp.path()));
            assert!(
                left.is_empty(),
                "{backend}: the {what} rendition keeps {left:?}"
            );
        }

        // Custom sizes need the server's signature; a changed one is no signature.
        let base = original.split('?').next().unwrap().to_string();
        let (status, _, body) = fetch(&format!("{base}?w=500"), "*/*", None);
        assert_eq!(status, 403, "{backend}: {}", String::from_utf8_lossy(&body));
        assert!(String::from_utf8_lossy(&body).contains("unsigned_transform"));
        let forged = format!("{}{}", app.url, small.replace("w=320", "w=321"));
        assert_eq!(
            fetch(&forged, "*/*", None).0,
            403,
            "{backend}: a forged width"
        );
        assert_eq!(fetch(&format!("{base}?preset=huge"), "*/*", None).0, 400);
        assert_eq!(
            fetch(&format!("{base}?preset=card&w=9000"), "*/*", None).0,
            400
        );
    }
}

/// A PNG that says 20,000×20,000 (400 megapixels, 1.6 GB decoded) in a few kilobytes.
fn png_bomb(dir: &Path) -> Vec<u8> {
    let path = dir.join("bomb.png");
    {
        let file = std::fs::File::create(&path).unwrap();
        let mut enc = png::Encoder::new(std::io::BufWriter::new(file), 20_000, 20_000);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::One);
        let mut w = enc.write_header().unwrap().into_stream_writer().unwrap();
        let row = vec![0u8; 2500];
        for _ in 0..20_000 {
            std::io::Write::write_all(&mut w, &row).unwrap();
        }
        w.finish().unwrap();
    }
    std::fs::read(path).unwrap()
}

fn small_png() -> Vec<u8> {
    let mut out = Vec::new();
    image::RgbImage::from_pixel(40, 30, image::Rgb([10, 120, 200]))
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

#[test]
fn hostile_uploads_are_refused_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    for (backend, blobs) in media_backends(tmp.path()) {
        let (app, editor, _) = start(blobs);
        let api = Api::of(&app);
        let bomb = png_bomb(tmp.path());
        assert!(
            bomb.len() < 1_000_000,
            "the bomb is small: {} bytes",
            bomb.len()
        );
        let res =
            upload(&api, &editor, "filename=bomb.png", bomb).expect_problem(413, "image_too_large");
        assert!(
            res.detail().contains("20000×20000"),
            "{backend}: {}",
            res.detail()
        );

        // An image that is also a web page (a polyglot), and one with a ZIP archive behind it.
        let mut html = small_png();
        html.extend_from_slice(b"<html><script>alert(document.cookie)</script></html>");
        let res =
            upload(&api, &editor, "filename=bild.png", html).expect_problem(422, "asset_refused");
        assert!(res.detail().contains("polyglot"), "{}", res.detail());
        let mut zip = photo();
        zip.extend_from_slice(
            b"PK\x03\x04\x14\x00\x00\x00\x08\x00payload.phpPK\x05\x06\x00\x00\x00\x00",
        );
        upload(&api, &editor, "filename=foto.jpg", zip).expect_problem(422, "asset_refused");
        let mut gif_pdf = b"GIF89a\x01\x00\x01\x00\x00\x00\x00%PDF-1.4\n".to_vec();
        gif_pdf.extend_from_slice(b"1 0 obj << >> endobj\n%%EOF\n");
        upload(&api, &editor, "filename=x.gif", gif_pdf).expect_problem(422, "asset_refused");

        let svg =
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec();
        let res =
            upload(&api, &editor, "filename=logo.svg", svg).expect_problem(422, "asset_refused");
        assert!(
            res.detail().contains("PNG"),
            "the refusal says what to do: {}",
            res.detail()
        );
        let pdf = b"%PDF-1.4\n1 0 obj << /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >> endobj\n%%EOF\n".to_vec();
        upload(&api, &editor, "filename=programm.pdf", pdf).expect_problem(422, "asset_refused");
        upload(&api, &editor, "filename=notiz.txt", b"nur Text".to_vec())
            .expect_problem(422, "asset_refused");
        let mut truncated = photo();
        truncated.truncate(4000);
        upload(&api, &editor, "filename=kaputt.jpg", truncated)
            .expect_problem(422, "asset_refused");
        upload(&api, &editor, "filename=leer.png", Vec::new()).expect_problem(422, "asset_refused");
        upload(&api, &editor, "filename=x.png&decorative=ja", small_png())
            .expect_problem(400, "invalid_parameter");

        // A clean PDF is a file asset: no renditions.
        let pdf =
            b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
                .to_vec();
        let res = upload(&api, &editor, "filename=satzung.pdf", pdf).expect(201);
        assert_eq!(res.body["data"]["kind"], "file", "{backend}");
        let listed = api.get("/api/v1/manage/assets", Some(&editor)).expect(200);
        assert_eq!(
            listed.body["meta"]["total"], 1,
            "{backend}: only the clean PDF was stored"
        );
    }
}

#[test]
fn an_upload_over_the_byte_limit_is_refused_before_it_is_read_whole() {
    let app = TestApp::builder()
        .tokens(&["editor"])
        .config(|c| c.media_config.limits.max_bytes = 20_000)
        .start();
    let api = Api::of(&app);
    let editor = app.tokens["editor"].clone();
    // Far over the limit: refused while reading (the server reads at most the limit + 1 MiB).
    let mut huge = small_png();
    huge.resize(3 << 20, 0);
    upload(&api, &editor, "filename=riesig.png", huge).expect_problem(413, "image_too_large");
    // Just over: refused by the limit, which the answer names.
    let big = photo();
    assert!(big.len() > 20_000, "{} bytes", big.len());
    let res =
        upload(&api, &editor, "filename=gross.jpg", big).expect_problem(413, "image_too_large");
    assert!(
        res.detail().contains("20000"),
        "the limit is named: {}",
        res.detail()
    );
    upload(&api, &editor, "filename=klein.png", small_png()).expect(201);
}

#[test]
fn alt_texts_references_and_unused_files() {
    let tmp = tempfile::tempdir().unwrap();
    for (backend, blobs) in media_backends(tmp.path()) {
        let probe = blobs.clone();
        let (app, editor, _) = start(blobs);
        let api = Api::of(&app);
        let a = upload(&api, &editor, "filename=logo.png", small_png())
            .expect(201)
            .body["data"]
            .clone();
        let id = a["id"].as_str().unwrap().to_string();
        let sha = a["sha256"].as_str().unwrap().to_string();

        // A draft may show an image without alt text; publishing may not.
        let mut fields = story(2);
        fields["image"] = json!(id);
        let entry = api.create(&editor, "story", &fields);
        let sid = entry["id"].as_str().unwrap().to_string();
        let res = api
            .post(
                &format!("/api/v1/manage/story/{sid}/transitions"),
                Some(&editor),
                &json!({"to": "published"}),
            )
            .expect_problem(422, "validation_failed");
        assert_eq!(res.body["errors"][0]["pointer"], "/image", "{backend}");
        let msg = res.body["errors"][0]["message"].as_str().unwrap();
        assert!(
            msg.contains("no alt text in locale de") && msg.contains("verbund asset edit"),
            "{msg}"
        );
        // An entry cannot name an asset that does not exist, nor a PDF as an image.
        let mut bad = story(3);
        bad["image"] = json!("01ARZ3NDEKTSV4RRFFQ69G5FAV");
        let res = api
            .post("/api/v1/manage/story", Some(&editor), &bad)
            .expect_problem(422, "validation_failed");
        assert!(
            res.body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("asset upload")
        );

        let patch = |v: &str, body: Value| {
            api.json(
                Method::PATCH,
                &format!("/api/v1/manage/assets/{id}"),
                Some(&editor),
                &[("if-match", v)],
                &body,
            )
        };
        patch(
            "\"1\"",
            json!({"alt": {"de": "Logo der Testfirma"}, "focal": {"x": 2.0, "y": 0.5}}),
        )
        .expect_problem(422, "validation_failed");
        patch("\"1\"", json!({"alt": {"de": "Logo der Testfirma"}})).expect(200);
        patch("\"1\"", json!({"decorative": true})).expect_problem(409, "version_conflict");
        api.transition(&editor, "story", &sid, "published");

        // Used by an entry: not deletable, and the answer names the entry.
        let del = |v: &str| {
            api.send(
                Method::DELETE,
                &format!("/api/v1/manage/assets/{id}"),
                Some(&editor),
                &[("if-match", v)],
                None,
            )
        };
        let res = del("\"2\"").expect_problem(409, "still_referenced");
        assert!(res.detail().contains(&sid), "{}", res.detail());
        assert_eq!(res.body["referrers"][0]["id"], sid.as_str());

        // Out of the entry, it goes, and with it its file and renditions.
        let card = format!("{}/assets/{id}/logo.png?preset=thumb", app.url);
        assert_eq!(fetch(&card, "image/webp", None).0, 200);
        let rt = tokio::runtime::Runtime::new().unwrap();
        let key = format!("originals/{sha}");
        assert!(
            rt.block_on(probe.exists(&key)).unwrap(),
            "{backend}: the original is stored"
        );
        assert!(
            !rt.block_on(probe.list(&format!("renditions/{sha}/")))
                .unwrap()
                .is_empty()
        );
        let v = api.version(&editor, "story", &sid);
        api.json(
            Method::PATCH,
            &format!("/api/v1/manage/story/{sid}"),
            Some(&editor),
            &[("if-match", &v)],
            &json!({"image": null}),
        )
        .expect(200);
        // The public page still shows the picture until the new version is published.
        let res = del("\"2\"").expect_problem(409, "still_referenced");
        assert!(
            res.detail().contains("published version"),
            "{backend}: {}",
            res.detail()
        );
        assert_eq!(
            fetch(&card, "image/webp", None).0,
            200,
            "{backend}: still public"
        );
        api.transition(&editor, "story", &sid, "published");
        assert_eq!(
            fetch(&card, "image/webp", None).0,
            404,
            "{backend}: no longer public"
        );
        del("\"2\"").expect(204);
        assert!(
            !rt.block_on(probe.exists(&key)).unwrap(),
            "{backend}: the unused original is collected"
        );
        assert!(
            rt.block_on(probe.list(&format!("renditions/{sha}/")))
                .unwrap()
                .is_empty(),
            "{backend}: renditions too"
        );
        assert_eq!(fetch(&card, "image/webp", Some(&editor)).0, 404);
    }
}

#[test]
fn erasing_a_person_erases_the_photos_they_agreed_to() {
    let tmp = tempfile::tempdir().unwrap();
    let (backend, blobs) = media_backends(tmp.path()).pop().unwrap();
    let probe = blobs.clone();
    let (app, editor, admin) = start(blobs);
    let api = Api::of(&app);
    let a = upload(&api, &editor, "filename=vortrag.jpg&alt=Vortrag", photo())
        .expect(201)
        .body["data"]
        .clone();
    let id = a["id"].as_str().unwrap().to_string();
    api.json(
        Method::PATCH,
        &format!("/api/v1/manage/assets/{id}"),
        Some(&editor),
        &[("if-match", "\"1\"")],
        &json!({"consent": {"person": "Anna Beispiel", "email": "anna.beispiel@example.org", "given_at": "2026-09-12", "scope": "Website und Newsletter"}}),
    )
    .expect(200);
    let export = api
        .post(
            "/api/v1/admin/gdpr/export",
            Some(&admin),
            &json!({"email": "Anna.Beispiel@example.org"}),
        )
        .expect(200);
    assert_eq!(
        export.body["data"]["assets"][0]["id"],
        id.as_str(),
        "{backend}"
    );
    let erased = api
        .post(
            "/api/v1/admin/gdpr/erase",
            Some(&admin),
            &json!({"email": "anna.beispiel@example.org"}),
        )
        .expect(200);
    assert_eq!(erased.body["data"]["assets_deleted"], 1);
    api.get(&format!("/api/v1/manage/assets/{id}"), Some(&editor))
        .expect(404);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sha = a["sha256"].as_str().unwrap();
    assert!(
        !rt.block_on(probe.exists(&format!("originals/{sha}")))
            .unwrap(),
        "{backend}: the file is gone"
    );
    let audit = api
        .get("/api/v1/admin/audit?since=0", Some(&admin))
        .expect(200);
    assert!(audit.text.contains("asset.erase"), "the erasure is audited");
}

#[test]
fn editors_upload_with_the_cli_and_name_local_files_in_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let (app, editor, _) = start(Blobs::dir(&tmp.path().join("media")).unwrap());
    let cfg = tmp.path().join("cli");
    let logo = tmp.path().join("logo.png");
    std::fs::write(&logo, small_png()).unwrap();
    let out = ok(&run_cli(
        &cfg,
        &app.url,
        &editor,
        &[
            "asset",
            "upload",
            logo.to_str().unwrap(),
            "--alt",
            "Logo der Beispiel GmbH",
            "--json",
        ],
        &[],
    ));
    let asset: Value = serde_json::from_str(&out).unwrap();
    let id = asset["id"].as_str().unwrap();
    let listed = ok(&run_cli(&cfg, &app.url, &editor, &["asset", "list"], &[]));
    assert!(
        listed.contains(id) && listed.contains("Logo der Beispiel GmbH"),
        "{listed}"
    );

    // An entry file names a photo by its path: the CLI uploads it and stores the id.
    let dir = tmp.path().join("redaktion");
    std::fs::create_dir_all(dir.join("fotos")).unwrap();
    std::fs::write(dir.join("fotos/werkhalle.jpg"), photo()).unwrap();
    let mut fields = story(4);
    fields["image"] = json!("fotos/werkhalle.jpg");
    let file = dir.join("bericht.json");
    std::fs::write(&file, fields.to_string()).unwrap();
    let out = run_cli(
        &cfg,
        &app.url,
        &editor,
        &[
            "entry",
            "new",
            "story",
            "--file",
            file.to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    let created: Value = serde_json::from_str(&ok(&out)).unwrap();
    let image = created["image"]
        .as_str()
        .expect("an asset id in the image field");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("uploaded"),
        "the CLI says what it uploaded"
    );
    let shown = ok(&run_cli(
        &cfg,
        &app.url,
        &editor,
        &["asset", "show", image],
        &[],
    ));
    assert!(
        shown.contains("werkhalle.jpg") && shown.contains("no alt text"),
        "{shown}"
    );
    ok(&run_cli(
        &cfg,
        &app.url,
        &editor,
        &[
            "asset",
            "edit",
            image,
            "--alt",
            "Blick in die Werkhalle",
            "--focal",
            "0.5,0.3",
        ],
        &[],
    ));
    let out = run_cli(&cfg, &app.url, &editor, &["asset", "delete", image], &[]);
    assert!(!out.status.success(), "a used asset is not deleted");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is used by"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ok(&run_cli(
        &cfg,
        &app.url,
        &editor,
        &["asset", "delete", id],
        &[],
    ));
}
