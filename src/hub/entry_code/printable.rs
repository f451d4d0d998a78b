//! The store's static Entry Code, printable: a QR code of `<public_url>/entry/<store>[/<counter>]`
//! as a PNG, or as a one-page PDF (A6, the code centred with a quiet zone).
//!
//! The PDF is written by hand: one page, one grey-scale image of the code's modules (one
//! pixel per module, unfiltered) scaled by the page's matrix, and a cross-reference table.
//! That is six small objects; a PDF crate would bring fonts and layout this page does not
//! use.

use qrcode::{Color, EcLevel, QrCode};

/// Pixels per module in the PNG.
const PNG_SCALE: u32 = 12;
/// Modules of white around the code (the QR standard asks for 4).
const QUIET_ZONE: u32 = 4;

/// The URL a static code carries.
pub fn entry_url(public_url: &url::Url, store: &str, counter: Option<&str>) -> String {
    let base = public_url.as_str().trim_end_matches('/');
    let store = super::page::url_segment(store);
    match counter {
        Some(counter) => format!("{base}/entry/{store}/{}", super::page::url_segment(counter)),
        None => format!("{base}/entry/{store}"),
    }
}

/// The code's modules with the quiet zone: `true` is dark. Medium error correction, so a
/// printed code survives a smudge.
fn modules(text: &str) -> Result<(u32, Vec<bool>), qrcode::types::QrError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)?;
    let width = u32::try_from(code.width()).unwrap_or(0);
    let colors = code.to_colors();
    let side = width + 2 * QUIET_ZONE;
    let mut dark = vec![false; (side * side) as usize];
    for y in 0..width {
        for x in 0..width {
            if colors[(y * width + x) as usize] == Color::Dark {
                dark[((y + QUIET_ZONE) * side + x + QUIET_ZONE) as usize] = true;
            }
        }
    }
    Ok((side, dark))
}

/// Why the code could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PrintableError {
    #[error("the URL does not fit in a QR code: {0}")]
    Qr(#[from] qrcode::types::QrError),
    #[error("cannot encode the PNG: {0}")]
    Png(#[from] png::EncodingError),
}

/// A grey-scale PNG of the code.
pub fn png(text: &str) -> Result<Vec<u8>, PrintableError> {
    let (side, dark) = modules(text)?;
    let pixels = side * PNG_SCALE;
    let mut image = Vec::with_capacity((pixels * pixels) as usize);
    for y in 0..pixels {
        for x in 0..pixels {
            let on = dark[((y / PNG_SCALE) * side + x / PNG_SCALE) as usize];
            image.push(if on { 0 } else { 255 });
        }
    }
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, pixels, pixels);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&image)?;
        writer.finish()?;
    }
    Ok(bytes)
}

/// A one-page PDF (A6 portrait, 298 × 420 pt) with the code 240 pt wide in its upper part.
pub fn pdf(text: &str) -> Result<Vec<u8>, PrintableError> {
    let (side, dark) = modules(text)?;
    let image: Vec<u8> = dark.iter().map(|&on| if on { 0 } else { 255 }).collect();
    let (page_w, page_h, size) = (298u32, 420u32, 240u32);
    let (x, y) = ((page_w - size) / 2, page_h - size - 60);
    let content = format!("q {size} 0 0 {size} {x} {y} cm /Code Do Q\n");
    let mut out: Vec<u8> = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    let mut object = |out: &mut Vec<u8>, body: &[u8]| {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", offsets.len()).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    };
    object(&mut out, b"<< /Type /Catalog /Pages 2 0 R >>");
    object(&mut out, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>");
    object(
        &mut out,
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {page_w} {page_h}] \
             /Resources << /XObject << /Code 5 0 R >> >> /Contents 4 0 R >>"
        )
        .as_bytes(),
    );
    let mut stream = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
    stream.extend_from_slice(content.as_bytes());
    stream.extend_from_slice(b"endstream");
    object(&mut out, &stream);
    // One sample per module; /Interpolate false keeps the edges sharp at any scale.
    let mut picture = format!(
        "<< /Type /XObject /Subtype /Image /Width {side} /Height {side} \
         /ColorSpace /DeviceGray /BitsPerComponent 8 /Interpolate false /Length {} >>\nstream\n",
        image.len()
    )
    .into_bytes();
    picture.extend_from_slice(&image);
    picture.extend_from_slice(b"\nendstream");
    object(&mut out, &picture);
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", offsets.len() + 1).as_bytes(),
    );
    for offset in &offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            offsets.len() + 1
        )
        .as_bytes(),
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_escaped_and_files_have_their_signatures() {
        let base = url::Url::parse("https://hub.example.com/").unwrap();
        assert_eq!(
            entry_url(&base, "S1", None),
            "https://hub.example.com/entry/S1"
        );
        assert_eq!(
            entry_url(&base, "S 1", Some("T/01")),
            "https://hub.example.com/entry/S%201/T%2F01"
        );
        assert!(png("https://x/entry/S1").unwrap().starts_with(b"\x89PNG"));
        let pdf = pdf("https://x/entry/S1").unwrap();
        assert!(pdf.starts_with(b"%PDF-1.4"));
        assert!(pdf.ends_with(b"%%EOF\n"));
    }
}
