//! The PNG backend: plotters' `BitMapBackend` with its own text drawing.
//!
//! plotters 0.3.7's `ab_glyph` text path places each glyph at the caret
//! without the glyph's left bearing and puts the baseline half a line below
//! the anchor, which makes letters jitter ("Lon don") and text sit high.
//! [`Raster`] forwards every shape to the bitmap backend and draws text
//! itself: glyphs at their outline bounds, kerning, anchors (left / centre /
//! right, top / centre on the capital height / bottom) and the 90° rotations
//! used for y-axis descriptions. Widths match plotters' own estimate (sum of
//! advances at the same scale), so layouts computed by plotters still fit.

use std::path::Path;

use ab_glyph::{point, Font, ScaleFont};
use plotters::backend::BitMapBackend;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
};

use super::font;

/// A PNG file being drawn.
pub(crate) struct Raster<'a> {
    inner: BitMapBackend<'a>,
}

impl<'a> Raster<'a> {
    /// A `w`×`h` picture saved to `path` on `present`.
    pub(crate) fn new(path: &'a Path, size: (u32, u32)) -> Self {
        Raster {
            inner: BitMapBackend::new(path, size),
        }
    }
}

type Error<'a> = DrawingErrorKind<<BitMapBackend<'a> as DrawingBackend>::ErrorType>;

/// Pixels (x, y, coverage) of `text` relative to the anchor point, before rotation.
pub(crate) fn glyph_pixels<S: BackendTextStyle>(text: &str, style: &S) -> Vec<(i32, i32, f32)> {
    let Some(face) = font::face(style.style()) else {
        return Vec::new();
    };
    let scaled = face.as_scaled(style.size() as f32);
    let mut width = 0.0f32;
    let mut prev = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            width += scaled.kern(p, id);
        }
        width += scaled.h_advance(id);
        prev = Some(id);
    }
    let cap = scaled
        .outline_glyph(scaled.scaled_glyph('H'))
        .map_or(scaled.ascent() * 0.75, |g| -g.px_bounds().min.y);
    let anchor = style.anchor();
    let x0 = match anchor.h_pos {
        HPos::Left => 0.0,
        HPos::Center => -width / 2.0,
        HPos::Right => -width,
    };
    let baseline = match anchor.v_pos {
        VPos::Top => scaled.ascent(),
        VPos::Center => cap / 2.0,
        VPos::Bottom => scaled.descent(),
    };
    let mut out = Vec::new();
    let mut caret = x0;
    let mut prev = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            caret += scaled.kern(p, id);
        }
        let glyph = id.with_scale_and_position(scaled.scale(), point(caret, baseline));
        if let Some(outline) = scaled.outline_glyph(glyph) {
            let b = outline.px_bounds();
            let (bx, by) = (b.min.x as i32, b.min.y as i32);
            outline.draw(|gx, gy, cov| {
                if cov > 0.0 {
                    out.push((bx + gx as i32, by + gy as i32, cov.min(1.0)));
                }
            });
        }
        caret += scaled.h_advance(id);
        prev = Some(id);
    }
    out
}

impl<'a> DrawingBackend for Raster<'a> {
    type ErrorType = <BitMapBackend<'a> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), Error<'a>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), Error<'a>> {
        self.inner.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Result<(), Error<'a>> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), Error<'a>> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), Error<'a>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), Error<'a>> {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), Error<'a>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let trans = style.transform();
        for (x, y, cov) in glyph_pixels(text, style) {
            let (dx, dy) = trans.transform(x, y);
            let c = BackendColor {
                alpha: color.alpha * f64::from(cov),
                rgb: color.rgb,
            };
            self.inner.draw_pixel((pos.0 + dx, pos.1 + dy), c)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::style::text_anchor::Pos;
    use plotters::style::{IntoFont, TextStyle};

    fn style(h: HPos, v: VPos) -> TextStyle<'static> {
        font::ensure().unwrap();
        TextStyle::from(("sans-serif", 20).into_font()).pos(Pos::new(h, v))
    }

    fn bounds(px: &[(i32, i32, f32)]) -> (i32, i32, i32, i32) {
        let xs = px.iter().map(|p| p.0);
        let ys = px.iter().map(|p| p.1);
        (
            xs.clone().min().unwrap(),
            ys.clone().min().unwrap(),
            xs.max().unwrap(),
            ys.max().unwrap(),
        )
    }

    #[test]
    fn anchors_place_text_around_the_point() {
        let (x0, y0, _, y1) = bounds(&glyph_pixels("Hello", &style(HPos::Left, VPos::Top)));
        assert!((0..=3).contains(&x0), "left edge {x0}");
        assert!((0..=6).contains(&y0) && y1 < 22, "top {y0} bottom {y1}");
        let (x0, _, x1, _) = bounds(&glyph_pixels("Hello", &style(HPos::Center, VPos::Center)));
        assert!((x0 + x1).abs() <= 3, "not centred: {x0}..{x1}");
        let (_, y0, _, y1) = bounds(&glyph_pixels("HHH", &style(HPos::Center, VPos::Center)));
        assert!((y0 + y1).abs() <= 2, "capitals not centred: {y0}..{y1}");
        let (_, _, x1, _) = bounds(&glyph_pixels("Hello", &style(HPos::Right, VPos::Bottom)));
        assert!((-3..=0).contains(&x1), "right edge {x1}");
    }

    #[test]
    fn letters_keep_their_spacing() {
        // "ll": two identical glyphs one advance apart, whatever their bearing.
        let px = glyph_pixels("ll", &style(HPos::Left, VPos::Top));
        let mut cols: Vec<i32> = px.iter().filter(|p| p.2 > 0.5).map(|p| p.0).collect();
        cols.sort_unstable();
        cols.dedup();
        let gap = cols.windows(2).map(|w| w[1] - w[0]).max().unwrap();
        assert!((4..=7).contains(&gap), "gap between the two l: {gap}");
    }
}
