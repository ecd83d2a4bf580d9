//! The heat map is read without hovering (issue 24): every cell carries a text label, the
//! legend spells out every diagnosis a cell numbers, and the committed results' map renders
//! to PNG (resvg, the fonts of the system) with full pass, partial, failure and
//! not-expressible in distinct colours. The PNG is kept in the test's temporary directory
//! (`heatmap.png`, printed) for a person to look at.

use std::path::Path;

use dindcheck::report::{self, Results};

fn committed_results() -> Results {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/results.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_heat_map_is_labelled_and_renders_to_png() {
    let r = committed_results();
    let svg = report::heatmap(&r);
    // A label after each cell, and a line of the legend for each diagnosis a cell shows.
    let cells = r.cases.len() * r.runtimes.len() * r.launchers.len();
    assert_eq!(svg.matches("</title></rect><text ").count(), cells);
    for o in r
        .outcomes
        .iter()
        .filter(|o| o.verdict.to_string() != "ready")
    {
        let id = o.diagnosis.as_deref().unwrap_or("unknown");
        assert!(
            svg.contains(&format!("  {id} (")),
            "{id} is not in the legend"
        );
    }

    let mut options = resvg::usvg::Options::default();
    let fonts = options.fontdb_mut();
    fonts.load_system_fonts();
    // fontdb's `sans-serif` is Arial unless told otherwise: any sans face the system has.
    let sans = fonts
        .faces()
        .flat_map(|f| f.families.iter().map(|(name, _)| name.clone()))
        .find(|name| name.contains("Sans"))
        .expect("a sans-serif font on this system (Debian: fonts-dejavu-core)");
    fonts.set_sans_serif_family(sans);
    let tree = resvg::usvg::Tree::from_str(&svg, &options).unwrap();
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).unwrap();
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::default(),
        &mut pixmap.as_mut(),
    );
    let png = Path::new(env!("CARGO_TARGET_TMPDIR")).join("heatmap.png");
    pixmap.save_png(&png).unwrap();
    println!("heat map rendered: {}", png.display());

    // The colours a person tells apart are on the image: full pass, the two partial fills,
    // failure; and the labels' text (dark on light cells, and the dashed outline's grey, in
    // the legend and on not-expressible cells), within antialiasing's reach.
    let has = |hex: &str| {
        let [r, g, b] =
            [1, 3, 5].map(|i| i32::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()));
        pixmap.pixels().iter().any(|p| {
            (i32::from(p.red()) - r).abs()
                + (i32::from(p.green()) - g).abs()
                + (i32::from(p.blue()) - b).abs()
                < 24
        })
    };
    for fill in [
        "#1a7f37", "#8dd9a0", "#f2cc60", "#cf222e", "#57606a", "#1f2328",
    ] {
        assert!(has(fill), "{fill} is not on the rendered map");
    }
}
