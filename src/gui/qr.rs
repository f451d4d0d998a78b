//! The order code as an image: black modules on white with the standard four-module quiet
//! zone, one module = a whole number of pixels so scaling in the UI stays sharp.

use qrcode::{Color, EcLevel, QrCode};
use slint::{Rgb8Pixel, SharedPixelBuffer};

/// Quiet zone around the code, in modules (ISO/IEC 18004 asks for 4).
pub const QUIET_ZONE_MODULES: usize = 4;
/// Pixels per module in the generated image; the screen scales it up further with
/// pixelated rendering.
pub const MODULE_PIXELS: usize = 8;

/// Renders `text` (the order code URL) to an RGB pixel buffer. Medium error correction
/// (about 15 %) survives glare and a scratched screen while keeping modules large.
pub fn render(text: &str) -> Result<SharedPixelBuffer<Rgb8Pixel>, qrcode::types::QrError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)?;
    let modules = code.width();
    let colors = code.to_colors();
    let side_modules = modules + 2 * QUIET_ZONE_MODULES;
    let side = side_modules * MODULE_PIXELS;
    let mut buffer = SharedPixelBuffer::<Rgb8Pixel>::new(side as u32, side as u32);
    let white = Rgb8Pixel::new(255, 255, 255);
    let black = Rgb8Pixel::new(0, 0, 0);
    let pixels = buffer.make_mut_slice();
    for (index, pixel) in pixels.iter_mut().enumerate() {
        let module_x = (index % side) / MODULE_PIXELS;
        let module_y = (index / side) / MODULE_PIXELS;
        let inside = |m: usize| (QUIET_ZONE_MODULES..QUIET_ZONE_MODULES + modules).contains(&m);
        *pixel = if inside(module_x) && inside(module_y) {
            let at = (module_y - QUIET_ZONE_MODULES) * modules + (module_x - QUIET_ZONE_MODULES);
            match colors.get(at) {
                Some(Color::Dark) => black,
                _ => white,
            }
        } else {
            white
        };
    }
    Ok(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_zone_is_white_and_finder_pattern_black() {
        let buffer = render("http://127.0.0.1:1/wallet/order/ABC123").unwrap();
        let side = buffer.width() as usize;
        assert_eq!(buffer.width(), buffer.height());
        assert_eq!(side % MODULE_PIXELS, 0);
        let pixels = buffer.as_slice();
        let at = |x: usize, y: usize| pixels[y * side + x];
        let zone = QUIET_ZONE_MODULES * MODULE_PIXELS;
        for i in 0..zone {
            assert_eq!(at(i, i), Rgb8Pixel::new(255, 255, 255));
            assert_eq!(at(side - 1 - i, i), Rgb8Pixel::new(255, 255, 255));
        }
        // The top-left finder pattern starts right after the quiet zone with a dark module.
        assert_eq!(at(zone, zone), Rgb8Pixel::new(0, 0, 0));
        assert_eq!(
            at(zone + 3, zone + MODULE_PIXELS - 1),
            Rgb8Pixel::new(0, 0, 0)
        );
    }

    #[test]
    fn longer_text_gives_a_bigger_code() {
        let short = render("x").unwrap();
        let long = render(&"x".repeat(300)).unwrap();
        assert!(long.width() > short.width());
    }
}
