//! The font every plot uses: DejaVu Sans (regular and bold), embedded in the
//! binary by the `dejavu` crate and registered with plotters' `ab_glyph`
//! text backend under the family name `sans-serif`. Nothing is read from the
//! system, so plots render the same on a machine without fonts or fontconfig.

use std::sync::OnceLock;

use ab_glyph::FontRef;
use plotters::style::{register_font, FontStyle};

/// The family name plots ask for (SVG viewers use their own sans-serif).
pub(crate) const FAMILY: &str = "sans-serif";

static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();

/// Registers the embedded fonts once per process.
pub(crate) fn ensure() -> Result<(), String> {
    REGISTERED
        .get_or_init(|| {
            let fonts = [
                (FontStyle::Normal, dejavu::sans::regular()),
                (FontStyle::Bold, dejavu::sans::bold()),
            ];
            for (style, bytes) in fonts {
                register_font(FAMILY, style, bytes).map_err(|_| {
                    format!(
                        "embedded DejaVu Sans ({}) is not a valid font",
                        style.as_str()
                    )
                })?;
            }
            Ok(())
        })
        .clone()
}

/// The embedded face for a style (bold or regular), for the PNG text
/// renderer; `None` only if the embedded bytes were not a font, which
/// [`ensure`] reports as an error before anything is drawn.
pub(crate) fn face(style: FontStyle) -> Option<&'static FontRef<'static>> {
    static FACES: OnceLock<(Option<FontRef<'static>>, Option<FontRef<'static>>)> = OnceLock::new();
    let (regular, bold) = FACES.get_or_init(|| {
        let parse = |b: &'static [u8]| FontRef::try_from_slice(b).ok();
        (parse(dejavu::sans::regular()), parse(dejavu::sans::bold()))
    });
    match style {
        FontStyle::Bold => bold.as_ref().or(regular.as_ref()),
        _ => regular.as_ref(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::style::{FontDesc, FontFamily};

    #[test]
    fn embedded_font_measures_text() {
        ensure().unwrap();
        let font = FontDesc::new(FontFamily::SansSerif, 20.0, FontStyle::Normal);
        let (w, h) = font.box_size("peers over time").unwrap();
        assert!(w > 100 && w < 220, "width {w}");
        assert!(h > 10 && h < 30, "height {h}");
    }
}
