//! The virtual printer's picture of a receipt: a PNG drawn the way a 58 mm thermal printer
//! prints (384 dots across, a character grid of 32 columns, Chinese two columns wide, the QR
//! code at the same module size), at twice the printer's resolution so it reads well on a
//! screen.
//!
//! Drawn here with `ab_glyph` and the `qrcode` crate rather than with Slint's software
//! renderer: a print runs off the UI thread (Slint's components live on it), inside a GUI
//! whose Slint platform is already the window system's (the software renderer needs its own
//! off-screen platform, set before any window opens), and without the `gui` feature too.
//!
//! The font is Noto Sans Mono CJK SC from Debian's `fonts-noto-cjk` (the package the .deb
//! depends on): one monospaced face with Latin half-width and Chinese full-width, as a
//! printer's resident font is.

use std::sync::OnceLock;

use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};
use qrcode::{Color, EcLevel, QrCode};

use super::escpos_out::QR_MODULE_DOTS;
use super::{Align, Block, COLUMNS, Receipt, display_width};

/// Screen pixels per printer dot.
const SCALE: u32 = 2;
/// Dots across a 58 mm printer's print area.
const PAPER_DOTS: u32 = 384;
/// Blank paper around the print area, in pixels.
const MARGIN: u32 = 32;
/// One column of the character grid (font A is 12 dots wide).
const CELL: u32 = PAPER_DOTS * SCALE / COLUMNS as u32;
/// One line of normal text (ESC/POS's default line spacing, 30 dots).
const LINE: u32 = 30 * SCALE;
/// A module of the QR code, as the printer draws it.
const MODULE: u32 = QR_MODULE_DOTS as u32 * SCALE;
/// The QR code's quiet zone, in modules.
const QUIET: u32 = 4;

/// Where Debian, Fedora and Arch put Noto Sans CJK (regular, bold).
const FONT_FILES: [(&str, &str); 3] = [
    (
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    ),
    (
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Bold.ttc",
    ),
    (
        "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc",
    ),
];
/// "Noto Sans Mono CJK SC" in the collection.
const MONO_SC_FACE: u32 = 7;

struct Fonts {
    regular: FontVec,
    bold: FontVec,
}

/// The fonts, read once per process (the collection is about 20 MB).
fn fonts() -> Result<&'static Fonts, String> {
    static FONTS: OnceLock<Result<Fonts, String>> = OnceLock::new();
    FONTS.get_or_init(load_fonts).as_ref().map_err(Clone::clone)
}

fn load_fonts() -> Result<Fonts, String> {
    let load = |path: &str| -> Option<FontVec> {
        let bytes = std::fs::read(path).ok()?;
        FontVec::try_from_vec_and_index(bytes, MONO_SC_FACE).ok()
    };
    for (regular, bold) in FONT_FILES {
        if let Some(regular_font) = load(regular) {
            let bold_font = match load(bold) {
                Some(font) => font,
                None => load(regular).ok_or_else(|| format!("{regular}: unreadable"))?,
            };
            return Ok(Fonts {
                regular: regular_font,
                bold: bold_font,
            });
        }
    }
    Err("the Noto Sans CJK font is not installed; install the fonts-noto-cjk package".into())
}

/// A grey-scale canvas, white paper.
struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: u32, height: u32) -> Canvas {
        Canvas {
            width,
            height,
            pixels: vec![255; (width * height) as usize],
        }
    }

    /// Darkens one pixel by `coverage` (0: untouched, 1: black).
    fn ink(&mut self, x: i64, y: i64, coverage: f32) {
        if x < 0 || y < 0 || x >= i64::from(self.width) || y >= i64::from(self.height) {
            return;
        }
        let index = (y as u64 * u64::from(self.width) + x as u64) as usize;
        let shade = (255.0 * (1.0 - coverage.clamp(0.0, 1.0))) as u8;
        if let Some(pixel) = self.pixels.get_mut(index) {
            *pixel = (*pixel).min(shade);
        }
    }

    fn fill(&mut self, x: u32, y: u32, side: u32) {
        for dy in 0..side {
            for dx in 0..side {
                self.ink(i64::from(x + dx), i64::from(y + dy), 1.0);
            }
        }
    }
}

/// The receipt as PNG bytes.
pub fn render_png(receipt: &Receipt) -> Result<Vec<u8>, String> {
    let fonts = fonts()?;
    let qr = match receipt.qr_payload() {
        Some(payload) => Some(
            QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M)
                .map_err(|error| format!("the QR code cannot hold {payload:?}: {error}"))?,
        ),
        None => None,
    };
    let qr_side = |code: &QrCode| (code.width() as u32 + 2 * QUIET) * MODULE;
    let height: u32 = receipt
        .blocks
        .iter()
        .map(|block| match block {
            Block::Text { style, .. } if style.double => 2 * LINE,
            Block::Text { .. } | Block::Rule | Block::Feed => LINE,
            Block::Qr(_) => qr.as_ref().map_or(0, qr_side),
        })
        .sum::<u32>()
        + 2 * MARGIN
        + 2 * LINE;
    let width = PAPER_DOTS * SCALE + 2 * MARGIN;
    let mut canvas = Canvas::new(width, height);
    let mut top = MARGIN;
    for block in &receipt.blocks {
        match block {
            Block::Text { text, style } => {
                let factor = if style.double { 2 } else { 1 };
                let font = if style.bold {
                    &fonts.bold
                } else {
                    &fonts.regular
                };
                let used = display_width(text) as u32 * CELL * factor;
                let room = PAPER_DOTS * SCALE;
                let left = MARGIN
                    + match style.align {
                        Align::Left => 0,
                        Align::Center => room.saturating_sub(used) / 2,
                        Align::Right => room.saturating_sub(used),
                    };
                draw_text(&mut canvas, font, text, left, top, factor);
                top += LINE * factor;
            }
            Block::Rule => {
                draw_text(
                    &mut canvas,
                    &fonts.regular,
                    &"-".repeat(COLUMNS),
                    MARGIN,
                    top,
                    1,
                );
                top += LINE;
            }
            Block::Feed => top += LINE,
            Block::Qr(_) => {
                if let Some(code) = &qr {
                    let side = qr_side(code);
                    let left = MARGIN + (PAPER_DOTS * SCALE).saturating_sub(side) / 2;
                    let modules = code.width() as u32;
                    for (i, color) in code.to_colors().iter().enumerate() {
                        if *color == Color::Dark {
                            let i = i as u32;
                            let (mx, my) = (i % modules, i / modules);
                            canvas.fill(
                                left + (QUIET + mx) * MODULE,
                                top + (QUIET + my) * MODULE,
                                MODULE,
                            );
                        }
                    }
                    top += side;
                }
            }
        }
    }
    encode_png(&canvas)
}

/// Draws `text` on the character grid from (`left`, `top`), each character centred in its
/// one or two cells.
fn draw_text(canvas: &mut Canvas, font: &FontVec, text: &str, left: u32, top: u32, factor: u32) {
    // One em is two cells: the face's Latin glyphs are half an em wide, Chinese ones a
    // whole em. (A `PxScale` is the line height, ascent to descent, not the em.)
    let em = (2 * CELL * factor) as f32;
    let scale = match font.units_per_em() {
        Some(units) if units > 0.0 => PxScale::from(em * font.height_unscaled() / units),
        _ => PxScale::from(em),
    };
    let scaled = font.as_scaled(scale);
    let line = LINE * factor;
    let baseline = top as f32 + (line as f32 + scaled.ascent() + scaled.descent()) / 2.0;
    let mut x = left;
    for c in text.chars() {
        let cells = display_width(c.encode_utf8(&mut [0; 4])) as u32;
        let cell_width = (cells * CELL * factor) as f32;
        let glyph_id = font.glyph_id(c);
        let advance = scaled.h_advance(glyph_id);
        let origin = x as f32 + (cell_width - advance) / 2.0;
        let glyph = glyph_id.with_scale_and_position(scale, point(origin, baseline));
        if let Some(outlined) = font.outline_glyph(glyph) {
            let bounds = outlined.px_bounds();
            outlined.draw(|gx, gy, coverage| {
                canvas.ink(
                    bounds.min.x as i64 + i64::from(gx),
                    bounds.min.y as i64 + i64::from(gy),
                    coverage,
                );
            });
        }
        x += cells * CELL * factor;
    }
}

fn encode_png(canvas: &Canvas) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let failed = |error: png::EncodingError| format!("cannot encode the PNG: {error}");
    let mut encoder = png::Encoder::new(&mut bytes, canvas.width, canvas.height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header().map_err(failed)?;
    writer.write_image_data(&canvas.pixels).map_err(failed)?;
    writer.finish().map_err(failed)?;
    Ok(bytes)
}
