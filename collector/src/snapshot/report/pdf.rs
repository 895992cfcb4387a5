//! The snapshot report as a PDF in French, laid out here and written by `krilla`, with DejaVu Sans
//! embedded (subset) so that accents and French punctuation show and can be copied or searched.
//!
//! The fonts are read at run time from a directory (Debian's `fonts-dejavu-core` by default, see
//! [`DEFAULT_FONT_DIR`]); a missing font is a clear error naming the file and the package, never a
//! PDF with missing glyphs. Layout is deliberately simple: A4 pages, text wrapped at word
//! boundaries using the font's own advance widths (`skrifa`), tables whose rows never split
//! across pages and whose header repeats, and a page number on each page.
//!
//! Not here: a tagged (PDF/UA) structure tree; the HTML report is the accessible rendering.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, FillRule};
use krilla::text::{Font, TextDirection};
use krilla::Document;
use skrifa::instance::{LocationRef, Size};
use skrifa::MetadataProvider;

use super::{FindingRow, Report, PING_PROVENANCE_FR};

/// Where Debian's `fonts-dejavu-core` puts DejaVu Sans.
pub const DEFAULT_FONT_DIR: &str = "/usr/share/fonts/truetype/dejavu";
const REGULAR: &str = "DejaVuSans.ttf";
const BOLD: &str = "DejaVuSans-Bold.ttf";

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("the PDF report needs the font {path} (Debian package fonts-dejavu-core, or give --font-dir): {source}")]
    FontMissing {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a usable TrueType font")]
    FontInvalid { path: PathBuf },
    #[error("writing the PDF: {0}")]
    Write(String),
}

/// One font face: the bytes (for measuring) and krilla's handle (for drawing).
struct Face {
    data: Arc<Vec<u8>>,
    font: Font,
    advances: std::cell::RefCell<HashMap<char, f32>>,
}

impl Face {
    fn load(path: &Path) -> Result<Face, PdfError> {
        let bytes = std::fs::read(path).map_err(|source| PdfError::FontMissing {
            path: path.to_owned(),
            source,
        })?;
        let invalid = || PdfError::FontInvalid {
            path: path.to_owned(),
        };
        skrifa::FontRef::new(&bytes).map_err(|_| invalid())?;
        let data = Arc::new(bytes);
        let font = Font::new(krilla::Data::from(Arc::clone(&data)), 0).ok_or_else(invalid)?;
        Ok(Face {
            data,
            font,
            advances: Default::default(),
        })
    }

    /// Advance of `c` at size 1 (in ems); a missing glyph counts as the width of `M`.
    fn advance(&self, c: char) -> f32 {
        if let Some(a) = self.advances.borrow().get(&c) {
            return *a;
        }
        let a = skrifa::FontRef::new(&self.data)
            .ok()
            .and_then(|f| {
                let gid = f.charmap().map(c).or_else(|| f.charmap().map('M'))?;
                f.glyph_metrics(Size::new(1.0), LocationRef::default())
                    .advance_width(gid)
            })
            .unwrap_or(0.6);
        self.advances.borrow_mut().insert(c, a);
        a
    }

    fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.advance(c)).sum::<f32>() * size
    }
}

/// The two faces a report uses.
pub struct Fonts {
    regular: Face,
    bold: Face,
}

impl std::fmt::Debug for Fonts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fonts")
    }
}

impl Fonts {
    /// Loads DejaVu Sans and DejaVu Sans Bold from `dir`.
    pub fn load(dir: &Path) -> Result<Fonts, PdfError> {
        Ok(Fonts {
            regular: Face::load(&dir.join(REGULAR))?,
            bold: Face::load(&dir.join(BOLD))?,
        })
    }

    fn face(&self, bold: bool) -> &Face {
        if bold {
            &self.bold
        } else {
            &self.regular
        }
    }
}

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 48.0;
const TOP: f32 = MARGIN + 14.0;
const BOTTOM: f32 = PAGE_H - MARGIN;
const WIDTH: f32 = PAGE_W - 2.0 * MARGIN;
const BODY: f32 = 9.0;
const SMALL: f32 = 7.5;
const PAD: f32 = 3.0;
/// Width of table rules, thick enough to survive a low-resolution rendering.
const RULE_W: f32 = 0.7;

type Colour = (u8, u8, u8);
const INK: Colour = (26, 26, 26);
const GREY: Colour = (80, 80, 80);
const RULE: Colour = (118, 118, 118);
const HEAD_BG: Colour = (232, 237, 243);
const NAVY: Colour = (31, 58, 95);

fn outcome_colour(outcome: &str) -> Colour {
    match outcome {
        "fail" => (138, 15, 22),
        "waived" => (107, 65, 0),
        "pass" => (27, 94, 32),
        _ => (51, 51, 51),
    }
}

enum Op {
    Text {
        x: f32,
        baseline: f32,
        bold: bool,
        size: f32,
        colour: Colour,
        text: String,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        colour: Colour,
    },
}

/// A table cell: its text, boldness and colour.
struct Cell {
    text: String,
    bold: bool,
    colour: Colour,
}

impl Cell {
    fn plain(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            bold: false,
            colour: INK,
        }
    }
}

struct Layout<'a> {
    fonts: &'a Fonts,
    pages: Vec<Vec<Op>>,
    y: f32,
}

impl Layout<'_> {
    fn page(&mut self) -> &mut Vec<Op> {
        if self.pages.is_empty() {
            self.pages.push(Vec::new());
        }
        let last = self.pages.len() - 1;
        // `last` is in bounds: the vector was just made non-empty.
        #[allow(clippy::indexing_slicing)]
        &mut self.pages[last]
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = TOP;
    }

    /// Starts a new page unless `height` still fits on this one.
    fn ensure(&mut self, height: f32) {
        if self.y + height > BOTTOM {
            self.new_page();
        }
    }

    /// `text` broken into lines no wider than `width`: at spaces, and inside words too long alone.
    /// Each line's width is kept as it grows, so a line costs its length, not its length squared
    /// (a 10,000-host report wraps some 400,000 cells).
    fn wrap(&self, text: &str, bold: bool, size: f32, width: f32) -> Vec<String> {
        let face = self.fonts.face(bold);
        let space = face.advance(' ') * size;
        let mut lines = Vec::new();
        for paragraph in text.split('\n') {
            let mut line = String::new();
            let mut line_width = 0.0;
            for word in paragraph.split(' ').filter(|w| !w.is_empty()) {
                let word_width = face.width(word, size);
                let candidate = if line.is_empty() {
                    word_width
                } else {
                    line_width + space + word_width
                };
                if candidate <= width {
                    if !line.is_empty() {
                        line.push(' ');
                    }
                    line.push_str(word);
                    line_width = candidate;
                    continue;
                }
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                    line_width = 0.0;
                }
                for c in word.chars() {
                    let advance = face.advance(c) * size;
                    if line_width + advance > width && !line.is_empty() {
                        lines.push(std::mem::take(&mut line));
                        line_width = 0.0;
                    }
                    line.push(c);
                    line_width += advance;
                }
            }
            lines.push(line);
        }
        lines
    }

    fn text(&mut self, x: f32, baseline: f32, bold: bool, size: f32, colour: Colour, text: String) {
        self.page().push(Op::Text {
            x,
            baseline,
            bold,
            size,
            colour,
            text,
        });
    }

    fn paragraph(&mut self, text: &str, bold: bool, size: f32, colour: Colour) {
        let leading = size * 1.35;
        for line in self.wrap(text, bold, size, WIDTH) {
            self.ensure(leading);
            self.y += leading;
            self.text(MARGIN, self.y - size * 0.3, bold, size, colour, line);
        }
        self.y += size * 0.5;
    }

    fn heading(&mut self, level: u8, text: &str) {
        let size = match level {
            1 => 16.0,
            2 => 13.0,
            _ => 10.5,
        };
        // Keep a heading with at least a few lines of what follows.
        self.ensure(size * 2.0 + 40.0);
        self.y += size * 0.8;
        self.paragraph(text, true, size, if level <= 2 { NAVY } else { INK });
    }

    /// A table: `columns` are (header, share of the width); rows never split across pages and the
    /// header repeats on each new page.
    fn table(&mut self, columns: &[(&str, f32)], rows: Vec<Vec<Cell>>) {
        let widths: Vec<f32> = columns.iter().map(|(_, share)| share * WIDTH).collect();
        let header: Vec<Cell> = columns
            .iter()
            .map(|(h, _)| Cell {
                text: (*h).to_owned(),
                bold: true,
                colour: INK,
            })
            .collect();
        let header_lines = self.row_lines(&widths, &header);
        self.row(&widths, &header, header_lines.clone(), true);
        for row in rows {
            let lines = self.row_lines(&widths, &row);
            if row_height(&lines) + self.y > BOTTOM {
                self.new_page();
                self.row(&widths, &header, header_lines.clone(), true);
            }
            self.row(&widths, &row, lines, false);
        }
        self.y += BODY;
    }

    /// Each cell of `row` wrapped to its column.
    fn row_lines(&self, widths: &[f32], row: &[Cell]) -> Vec<Vec<String>> {
        widths
            .iter()
            .zip(row)
            .map(|(w, c)| self.cell_lines(*w, c))
            .collect()
    }

    fn cell_lines(&self, width: f32, cell: &Cell) -> Vec<String> {
        let mut lines = self.wrap(&cell.text, cell.bold, SMALL, width - 2.0 * PAD);
        // A cell taller than a page is cut (host text is bounded, so this is a safety net).
        let max_lines = ((BOTTOM - TOP - 3.0 * SMALL) / (SMALL * 1.3)) as usize;
        if lines.len() > max_lines {
            lines.truncate(max_lines.saturating_sub(1));
            lines.push("…".to_owned());
        }
        lines
    }

    /// Draws `row`, whose cells wrapped to `lines` (from [`Layout::row_lines`]).
    fn row(&mut self, widths: &[f32], row: &[Cell], lines: Vec<Vec<String>>, header: bool) {
        let height = row_height(&lines);
        self.ensure(height);
        let top = self.y;
        let mut x = MARGIN;
        for ((w, cell), cell_lines) in widths.iter().zip(row).zip(lines) {
            // Borders as thin filled rectangles: a grey frame, then the cell's background.
            self.page().push(Op::Rect {
                x,
                y: top,
                w: *w,
                h: height,
                colour: RULE,
            });
            self.page().push(Op::Rect {
                x: x + RULE_W,
                y: top + RULE_W,
                w: w - 2.0 * RULE_W,
                h: height - 2.0 * RULE_W,
                colour: if header { HEAD_BG } else { (255, 255, 255) },
            });
            let mut baseline = top + PAD + SMALL;
            for line in cell_lines {
                self.text(x + PAD, baseline, cell.bold, SMALL, cell.colour, line);
                baseline += SMALL * 1.3;
            }
            x += w;
        }
        // Rows share their border line.
        self.y = top + height - RULE_W;
    }
}

/// The height of a table row whose cells wrapped to `lines`.
fn row_height(lines: &[Vec<String>]) -> f32 {
    let tallest = lines.iter().map(Vec::len).max().unwrap_or(1);
    tallest as f32 * SMALL * 1.3 + 2.0 * PAD
}

/// The rows of a findings table (see [`FINDING_COLUMNS`]).
fn finding_rows(findings: &[FindingRow]) -> Vec<Vec<Cell>> {
    findings
        .iter()
        .map(|f| {
            let mut detail = format!("{}\n{}", f.title, f.detail);
            if let Some(w) = &f.waiver {
                detail.push_str(&format!("\nDérogation : {w}"));
            }
            for m in &f.maintenance {
                detail.push_str(&format!("\nMaintenance déclarée : {m}"));
            }
            vec![
                Cell::plain(f.check_id.clone()),
                Cell {
                    text: f.outcome_fr.clone(),
                    bold: f.outcome == "fail" || f.outcome == "waived",
                    colour: outcome_colour(&f.outcome),
                },
                Cell::plain(detail),
                Cell::plain(f.evidence.join("\n")),
            ]
        })
        .collect()
}

const FINDING_COLUMNS: [(&str, f32); 4] = [
    ("Contrôle", 0.11),
    ("Résultat", 0.14),
    ("Intitulé et détail", 0.5),
    ("Preuves", 0.25),
];

fn build_pages(r: &Report, fonts: &Fonts) -> Vec<Vec<Op>> {
    let mut l = Layout {
        fonts,
        pages: Vec::new(),
        y: TOP,
    };
    l.new_page();
    l.heading(1, &r.title());
    l.paragraph(&r.summary(), false, BODY, INK);

    l.heading(2, "Synthèse");
    let rows = r
        .counts
        .iter()
        .map(|(label, n)| vec![Cell::plain(label.clone()), Cell::plain(n.to_string())])
        .collect();
    l.table(&[("Résultat", 0.7), ("Nombre", 0.3)], rows);

    l.heading(2, "Signature et intégrité");
    for (k, v) in r.integrity() {
        l.paragraph(&k, true, SMALL + 0.5, INK);
        l.paragraph(&v, false, SMALL, GREY);
    }

    l.heading(2, "Mesures d'hygiène ANSSI et recommandations BP-028");
    let rows = r
        .measures
        .iter()
        .map(|m| {
            vec![
                Cell::plain(m.measure.clone()),
                Cell::plain(m.status.clone()),
                Cell::plain(m.checks.clone()),
                Cell::plain(m.pass.clone()),
                Cell::plain(m.fail.clone()),
                Cell::plain(m.waived.clone()),
                Cell::plain(m.no_evidence.clone()),
            ]
        })
        .collect();
    l.table(
        &[
            ("Mesure", 0.14),
            ("Statut", 0.19),
            ("Contrôles", 0.21),
            ("Conformes", 0.115),
            ("Non conformes", 0.115),
            ("Dérogations", 0.115),
            ("Sans preuve", 0.115),
        ],
        rows,
    );
    l.paragraph(
        "Une mesure sans contrôle automatique relève d'une attestation humaine. Les recommandations BP-028 figurent ici quand un contrôle s'y rapporte.",
        false,
        SMALL,
        GREY,
    );

    l.heading(2, "Dérogations en vigueur");
    if r.waivers.is_empty() {
        l.paragraph("Aucune dérogation en vigueur.", false, BODY, INK);
    } else {
        let rows = r
            .waivers
            .iter()
            .map(|w| {
                vec![
                    Cell::plain(format!("{} — {}", w.check_id, w.check_title)),
                    Cell::plain(w.scope.clone()),
                    Cell::plain(w.reason.clone()),
                    Cell::plain(w.owner.clone()),
                    Cell::plain(format!("{} le {}", w.created_by, w.created_at)),
                    Cell::plain(w.expires_at.clone()),
                ]
            })
            .collect();
        l.table(
            &[
                ("Contrôle", 0.22),
                ("Portée", 0.13),
                ("Motif", 0.2),
                ("Responsable", 0.15),
                ("Enregistrée par", 0.16),
                ("Jusqu'au", 0.14),
            ],
            rows,
        );
    }

    l.heading(2, "Maintenances déclarées citées par les constats");
    if r.maintenance.is_empty() {
        l.paragraph(
            "Aucun constat ne cite de maintenance déclarée.",
            false,
            BODY,
            INK,
        );
    } else {
        let rows = r
            .maintenance
            .iter()
            .map(|m| {
                vec![
                    Cell::plain(format!("{}\n{}", m.id, m.scope)),
                    Cell::plain(format!("{}\nResponsable : {}", m.reason, m.owner)),
                    Cell::plain(format!("du {}\nau {}", m.from, m.until)),
                    Cell::plain(format!("{}\ndéclarée par {}", m.state, m.created)),
                    Cell::plain(m.findings.join("\n")),
                ]
            })
            .collect();
        l.table(
            &[
                ("Fenêtre et portée", 0.2),
                ("Motif et responsable", 0.22),
                ("Période", 0.18),
                ("Révocation", 0.2),
                ("Constats qui la citent", 0.2),
            ],
            rows,
        );
    }

    l.heading(2, "Détail par poste");
    if r.hosts.is_empty() {
        l.paragraph("Aucun poste enrôlé.", false, BODY, INK);
    }
    for h in &r.hosts {
        l.heading(3, &format!("Poste {}", h.hostname));
        let groups = if h.groups.is_empty() {
            "aucun".to_owned()
        } else {
            h.groups.join(", ")
        };
        let mut facts = format!(
            "Identifiant {} · groupes : {groups} · enrôlé le {} · dernier rapport reçu : {}",
            h.id, h.enrolled_at, h.last_seen
        );
        if let Some(rev) = &h.revoked {
            facts.push_str(&format!(" · {rev}"));
        }
        l.paragraph(&facts, false, SMALL, GREY);
        l.table(&FINDING_COLUMNS, finding_rows(&h.findings));
    }

    l.heading(2, "Sauvegardes sans agent (signaux HTTPS)");
    if r.ping_jobs.is_empty() {
        l.paragraph("Aucune sauvegarde sans agent déclarée.", false, BODY, INK);
    } else {
        l.paragraph(PING_PROVENANCE_FR, false, SMALL, GREY);
    }
    for j in &r.ping_jobs {
        l.heading(3, &format!("Sauvegarde sans agent « {} »", j.name));
        let pings = if j.pings.is_empty() {
            "aucun signal reçu".to_owned()
        } else {
            j.pings.join(" · ")
        };
        l.paragraph(
            &format!(
                "Identifiant {} · déclarée le {} · {} · derniers signaux reçus (non signés) : {pings}",
                j.id, j.created_at, j.declared
            ),
            false,
            SMALL,
            GREY,
        );
        l.table(&FINDING_COLUMNS, finding_rows(&j.findings));
    }

    l.heading(2, "Remédiations");
    if r.remediations.is_empty() {
        l.paragraph("Aucun contrôle en échec.", false, BODY, INK);
    }
    for rem in &r.remediations {
        l.heading(3, &format!("{} — {}", rem.check_id, rem.title));
        l.paragraph(
            &format!("Références : {}", rem.references),
            false,
            SMALL,
            GREY,
        );
        l.paragraph(&rem.text.replace('\n', " "), false, BODY, INK);
        l.paragraph(
            &format!("Postes ou sauvegardes concernés : {}", rem.hosts.join(", ")),
            false,
            BODY,
            INK,
        );
    }
    l.pages
}

fn fill(colour: Colour) -> Option<Fill> {
    Some(Fill {
        paint: rgb::Color::new(colour.0, colour.1, colour.2).into(),
        opacity: NormalizedF32::ONE,
        rule: FillRule::default(),
    })
}

/// The PDF bytes of the report.
pub fn render(r: &Report, fonts: &Fonts) -> Result<Vec<u8>, PdfError> {
    let pages = build_pages(r, fonts);
    let total = pages.len();
    let mut document = Document::new();
    document.set_metadata(
        Metadata::new()
            .title(r.title())
            .language("fr".to_owned())
            .creator("Vigie".to_owned()),
    );
    let settings =
        PageSettings::from_wh(PAGE_W, PAGE_H).ok_or_else(|| PdfError::Write("page size".into()))?;
    for (n, ops) in pages.into_iter().enumerate() {
        let mut page = document.start_page_with(settings.clone());
        let mut surface = page.surface();
        let footer = format!("{} — page {} / {total}", r.title(), n + 1);
        let footer_ops = [Op::Text {
            x: MARGIN,
            baseline: PAGE_H - MARGIN / 2.0,
            bold: false,
            size: SMALL,
            colour: GREY,
            text: footer,
        }];
        for op in ops.iter().chain(&footer_ops) {
            match op {
                Op::Rect { x, y, w, h, colour } => {
                    let mut pb = PathBuilder::new();
                    if let Some(rect) = Rect::from_xywh(*x, *y, *w, *h) {
                        pb.push_rect(rect);
                    }
                    if let Some(path) = pb.finish() {
                        surface.set_fill(fill(*colour));
                        surface.draw_path(&path);
                    }
                }
                Op::Text {
                    x,
                    baseline,
                    bold,
                    size,
                    colour,
                    text,
                } => {
                    surface.set_fill(fill(*colour));
                    surface.draw_text(
                        Point::from_xy(*x, *baseline),
                        fonts.face(*bold).font.clone(),
                        *size,
                        text,
                        false,
                        TextDirection::Auto,
                    );
                }
            }
        }
        surface.finish();
        page.finish();
    }
    document
        .finish()
        .map_err(|e| PdfError::Write(format!("{e:?}")))
}
