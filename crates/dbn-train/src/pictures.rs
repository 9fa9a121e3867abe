//! PNG pictures of a run: layer-1 filters, generated samples, reconstructions beside their
//! inputs (the charts of its metrics are [`crate::charts`]).

use std::path::Path;

use image::{GrayImage, Luma};

/// Grey tiles (values in [0, 1], `[height, width]` each, row-major) laid out `columns` per row
/// with a one-pixel gap, each pixel drawn `zoom x zoom`.
pub fn tile_grid(
    tiles: &[Vec<f32>],
    [height, width]: [usize; 2],
    columns: usize,
    zoom: u32,
) -> GrayImage {
    let rows = tiles.len().div_ceil(columns).max(1);
    let (cell_w, cell_h) = (width as u32 * zoom + 1, height as u32 * zoom + 1);
    let mut img = GrayImage::from_pixel(
        columns as u32 * cell_w + 1,
        rows as u32 * cell_h + 1,
        Luma([40]),
    );
    for (t, tile) in tiles.iter().enumerate() {
        let (x0, y0) = (
            (t % columns) as u32 * cell_w + 1,
            (t / columns) as u32 * cell_h + 1,
        );
        for (p, &v) in tile.iter().enumerate().take(height * width) {
            let shade = Luma([(v.clamp(0.0, 1.0) * 255.0).round() as u8]);
            let (px, py) = ((p % width) as u32 * zoom, (p / width) as u32 * zoom);
            for dy in 0..zoom {
                for dx in 0..zoom {
                    img.put_pixel(x0 + px + dx, y0 + py + dy, shade);
                }
            }
        }
    }
    img
}

/// Each of `n_filters` columns of a `[n_visible, n_hidden]` row-major weight matrix, scaled to
/// [0, 1] by its own range, as a tile.
pub fn filters(
    weights: &[f32],
    n_visible: usize,
    n_hidden: usize,
    n_filters: usize,
) -> Vec<Vec<f32>> {
    (0..n_filters.min(n_hidden))
        .map(|j| {
            let column: Vec<f32> = (0..n_visible).map(|i| weights[i * n_hidden + j]).collect();
            let (lo, hi) = column
                .iter()
                .fold((f32::MAX, f32::MIN), |(lo, hi), &w| (lo.min(w), hi.max(w)));
            let range = (hi - lo).max(f32::EPSILON);
            column.iter().map(|w| (w - lo) / range).collect()
        })
        .collect()
}

/// Rows of a row-major `[n, width]` matrix as tiles.
pub fn rows(values: &[f32], width: usize) -> Vec<Vec<f32>> {
    values.chunks(width).map(<[f32]>::to_vec).collect()
}

/// Saves a picture as PNG through a temporary file renamed into place.
pub fn save_png<I: Into<image::DynamicImage>>(picture: I, path: &Path) -> Result<(), String> {
    let tmp = path.with_extension("png.tmp");
    picture
        .into()
        .save_with_format(&tmp, image::ImageFormat::Png)
        .map_err(|e| format!("{}: cannot write: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| format!("{}: cannot rename into place: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grid_places_each_tile_in_its_cell() {
        let tiles = vec![vec![1.0; 4], vec![0.0; 4], vec![0.5; 4]];
        let img = tile_grid(&tiles, [2, 2], 2, 1);
        assert_eq!(img.dimensions(), (7, 7));
        assert_eq!(img.get_pixel(1, 1)[0], 255);
        assert_eq!(img.get_pixel(4, 1)[0], 0);
        assert_eq!(img.get_pixel(1, 4)[0], 128);
        assert_eq!(img.get_pixel(0, 0)[0], 40, "gaps are dark grey");
    }

    #[test]
    fn filters_are_columns_scaled_to_their_range() {
        // W = [[1, 10], [3, 20]]: filter 0 = [1, 3] -> [0, 1]; filter 1 = [10, 20] -> [0, 1].
        let f = filters(&[1.0, 10.0, 3.0, 20.0], 2, 2, 5);
        assert_eq!(f, vec![vec![0.0, 1.0], vec![0.0, 1.0]]);
    }
}
