//! Pictures of a run's results: `OUT/NAME.png` beside each `OUT/NAME.npz`.
//!
//! A SpikeMonitor becomes a raster (time against neuron index), a
//! StateMonitor one panel of traces per variable, a PopulationRateMonitor
//! its rate smoothed with a gaussian window as Brian2's `smooth_rate` does. Time is in ms; values are in
//! the SI unit the archive's metadata names, scaled by the prefix that
//! reads best for them (`v` in mV, a current in nA).
//!
//! Everything is read back from `OUT` (run.json and the archives), so the
//! pictures of a run can be drawn again later, and the run itself needs
//! nothing from this module. The text is drawn with a bundled DejaVu Sans
//! through plotters' `ab_glyph` backend, so no system font or fontconfig
//! is needed; the PNG is encoded here and written atomically.

use crate::datafile;
use crate::npz;
use plotters::prelude::*;
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};

mod text;

/// The font every label is drawn in (Bitstream Vera license, see
/// `assets/DejaVuSans.LICENSE`).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Largest run.json read.
const MAX_MANIFEST: u64 = 64 << 20;
/// Traces drawn per variable: more are unreadable as lines.
const MAX_TRACES: usize = 20;
const WIDTH: u32 = 1000;
const HEIGHT: u32 = 560;
/// Height of one variable's panel of a StateMonitor.
const PANEL_HEIGHT: u32 = 330;

/// How the pictures are drawn.
pub struct Settings {
    /// Standard deviation of the gaussian window smoothing rates, seconds
    /// (Brian2's `smooth_rate(window='gaussian', width=...)`).
    pub rate_width: f64,
}

/// Draws the picture of every archive run.json in `out` lists. Returns
/// the pictures written and, for each monitor that could not be drawn,
/// a message naming it.
pub fn plot_dir(out: &Path, settings: &Settings) -> Result<(Vec<PathBuf>, Vec<String>), String> {
    let manifest_path = out.join("run.json");
    let bytes = datafile::read_capped(&manifest_path, MAX_MANIFEST, "run.json files")
        .map_err(|e| format!("{}: {e}", manifest_path.display()))?;
    let manifest: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{}: not a run.json ({e})", manifest_path.display()))?;
    register_font()?;
    let dt = manifest.get("dt").and_then(Value::as_f64);
    let duration = manifest.get("duration").and_then(Value::as_f64);
    let mut written = Vec::new();
    let mut failed = Vec::new();
    let files = manifest
        .get("files")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for file in files {
        let Some(name) = file.get("name").and_then(Value::as_str) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".npz") else {
            continue;
        };
        let archive = out.join(name);
        let target = out.join(format!("{stem}.png"));
        let description = manifest
            .get("recordings")
            .and_then(|r| r.get(stem))
            .cloned();
        match plot_archive(&archive, description, dt, duration, settings)
            .and_then(|png| npz::write_atomically(&target, &png).map_err(|e| e.to_string()))
        {
            Ok(_) => written.push(target),
            Err(e) => failed.push(format!("{}: cannot draw it: {e}", archive.display())),
        }
    }
    Ok((written, failed))
}

/// Makes the bundled font the one plotters draws `FAMILY` with.
fn register_font() -> Result<(), String> {
    use std::sync::OnceLock;
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err("the bundled font cannot be read".into())
    }
}

/// The arrays of an archive, read as tables of numbers, and its metadata.
struct Archive {
    zip: zip::ZipArchive<std::fs::File>,
}

impl Archive {
    fn open(path: &Path) -> Result<Archive, String> {
        let file = datafile::open_regular(path)?;
        let zip = zip::ZipArchive::new(file).map_err(|e| format!("not an .npz archive ({e})"))?;
        Ok(Archive { zip })
    }

    fn has(&self, name: &str) -> bool {
        self.zip.index_for_name(&format!("{name}.npy")).is_some()
    }

    fn table(&mut self, name: &str) -> Result<datafile::Table, String> {
        let entry = self
            .zip
            .by_name(&format!("{name}.npy"))
            .map_err(|e| format!("no array `{name}` ({e})"))?;
        let len = entry.size();
        datafile::read_npy_stream(entry, len).map_err(|e| format!("array `{name}`: {e}"))
    }

    /// The `metadata` member: JSON in a numpy unicode scalar.
    fn metadata(&mut self) -> Option<Value> {
        let mut entry = self.zip.by_name("metadata.npy").ok()?;
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).ok()?;
        let header_len = usize::from(u16::from_le_bytes([*bytes.get(8)?, *bytes.get(9)?]));
        let data = bytes.get(10 + header_len..)?;
        let text: String = data
            .chunks_exact(4)
            .filter_map(|c| char::from_u32(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .filter(|&c| c != '\0')
            .collect();
        serde_json::from_str(&text).ok()
    }
}

/// The PNG of one archive.
fn plot_archive(
    path: &Path,
    description: Option<Value>,
    dt: Option<f64>,
    duration: Option<f64>,
    settings: &Settings,
) -> Result<Vec<u8>, String> {
    let mut archive = Archive::open(path)?;
    let meta = description.or_else(|| archive.metadata());
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let kind = meta
        .as_ref()
        .and_then(|m| m.get("type"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            // Archives without metadata: their arrays say what they are.
            if archive.has("count") {
                "SpikeMonitor".into()
            } else if archive.has("rate") {
                "PopulationRateMonitor".into()
            } else {
                "StateMonitor".into()
            }
        });
    let source = meta
        .as_ref()
        .and_then(|m| m.get("source"))
        .and_then(|s| s.get("group").or_else(|| s.get("synapses")))
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string();
    let unit_of = |array: &str| -> Option<String> {
        meta.as_ref()?
            .get("units")?
            .get(array)?
            .as_str()
            .map(str::to_string)
    };
    let t = archive.table("t")?.values;
    let t_end = duration
        .filter(|d| *d > 0.0)
        .or_else(|| t.last().copied())
        .unwrap_or(0.0);
    match kind.as_str() {
        "SpikeMonitor" | "EventMonitor" => {
            let i = archive.table("i")?.values;
            let neurons = meta
                .as_ref()
                .and_then(|m| m.get("source"))
                .and_then(|s| Some(s.get("stop")?.as_f64()? - s.get("start")?.as_f64()?))
                .or_else(|| archive.table("count").ok().map(|c| c.values.len() as f64))
                .unwrap_or(1.0);
            let title = match kind.as_str() {
                "EventMonitor" => format!("{name}: EventMonitor of {source}, {} events", i.len()),
                _ => format!("{name}: SpikeMonitor of {source}, {} spikes", i.len()),
            };
            raster(&title, &t, &i, t_end, neurons)
        }
        "PopulationRateMonitor" => {
            let rate = archive.table("rate")?.values;
            let step = dt
                .or_else(|| (t.len() > 1).then(|| t[1] - t[0]))
                .unwrap_or(1e-4);
            let smooth = smooth_rate(&rate, step, settings.rate_width)
                .map_err(|e| format!("{name}: {e}"))?;
            let title = format!(
                "{name}: PopulationRateMonitor of {source}, smoothed (gaussian, width {} ms)",
                crate::progress::significant(settings.rate_width * 1e3)
            );
            rate_plot(&title, &t, &smooth, t_end)
        }
        _ => {
            let record = archive.table("record")?.values;
            // In the archive's order, which is the monitor's `variables:`.
            let variables: Vec<String> = archive
                .zip
                .file_names()
                .filter_map(|n| n.strip_suffix(".npy"))
                .filter(|n| !matches!(*n, "t" | "record" | "metadata"))
                .map(str::to_string)
                .collect();
            let mut panels = Vec::new();
            for v in &variables {
                let table = archive.table(v)?;
                panels.push(Panel {
                    name: v.clone(),
                    unit: unit_of(v),
                    rows: table.rows,
                    columns: table.columns,
                    values: table.values,
                });
            }
            let title = format!("{name}: StateMonitor of {source}");
            // The legend names what a trace is: a neuron, or a synapse of
            // a Synapses object.
            let element = if meta
                .as_ref()
                .and_then(|m| m.get("source"))
                .is_some_and(|s| s.get("synapses").is_some())
            {
                "synapse"
            } else {
                "neuron"
            };
            traces(&title, &t, &record, &panels, t_end, element)
        }
    }
}

/// One recorded variable: `rows` recorded elements × `columns` times.
struct Panel {
    name: String,
    unit: Option<String>,
    rows: usize,
    columns: usize,
    values: Vec<f64>,
}

/// Brian2's `smooth_rate(window='gaussian', width=w)`: the rate convolved
/// with a normalised gaussian of standard deviation `w`, truncated at
/// ±2w (in whole steps), keeping the length (numpy's `mode='same'`).
/// The window is refused, before it is allocated, when the convolution
/// would take more than [`MAX_SMOOTHING_WORK`] multiplications (a width of
/// 1e8 ms at 0.1 ms is a window of 4e9 steps: 32 GB, and years of work).
pub fn smooth_rate(rate: &[f64], dt: f64, width: f64) -> Result<Vec<f64>, String> {
    let sigma = width / dt;
    let half = (2.0 * sigma).round().max(0.0);
    let work = (2.0 * half + 1.0) * rate.len().max(1) as f64;
    // NaN (a step of 0 or NaN) is refused too.
    if work.is_nan() || work > MAX_SMOOTHING_WORK {
        return Err(format!(
            "cannot smooth the rate with a width of {} ms: at a step of {} ms the window is \
             {} steps, too wide for {} samples; use a smaller --rate-width-ms",
            crate::progress::significant(width * 1e3),
            crate::progress::significant(dt * 1e3),
            crate::progress::significant(2.0 * half + 1.0),
            rate.len()
        ));
    }
    let half = half as usize;
    let window: Vec<f64> = (0..=2 * half)
        .map(|k| {
            let x = k as f64 - half as f64;
            if sigma > 0.0 {
                (-x * x / (2.0 * sigma * sigma)).exp()
            } else {
                1.0
            }
        })
        .collect();
    let total: f64 = window.iter().sum();
    Ok((0..rate.len())
        .map(|n| {
            let mut sum = 0.0;
            for (k, w) in window.iter().enumerate() {
                // Output n is centred on input n: input n + k - half.
                if let Some(m) = (n + k).checked_sub(half) {
                    if let Some(r) = rate.get(m) {
                        sum += r * w;
                    }
                }
            }
            sum / total
        })
        .collect())
}

/// The most multiplications smoothing a rate may take (a few seconds).
pub const MAX_SMOOTHING_WORK: f64 = 2e9;

/// The unit a plot shows values of SI unit `unit` in, and the factor
/// turning SI values into it: a prefix chosen so the largest magnitude
/// reads between 1 and 1000 (`volt` at -0.07 → mV), for units with a
/// symbol; compound units are shown as they are, in SI.
pub fn display_unit(unit: Option<&str>, values: &[f64]) -> (String, f64) {
    let symbol = match unit {
        None => return ("SI units".into(), 1.0),
        Some("1") => return (String::new(), 1.0),
        Some("volt") => "V",
        Some("amp") => "A",
        Some("siemens") => "S",
        Some("farad") => "F",
        Some("ohm") => "Ω",
        Some("second") => "s",
        Some("hertz") => "Hz",
        Some("metre") => "m",
        Some("coulomb") => "C",
        Some("mole") => "mol",
        Some(other) => return (other.to_string(), 1.0),
    };
    let largest = values
        .iter()
        .filter(|v| v.is_finite())
        .fold(0.0f64, |m, v| m.max(v.abs()));
    const PREFIXES: [(&str, f64); 9] = [
        ("G", 1e9),
        ("M", 1e6),
        ("k", 1e3),
        ("", 1.0),
        ("m", 1e-3),
        ("µ", 1e-6),
        ("n", 1e-9),
        ("p", 1e-12),
        ("f", 1e-15),
    ];
    let (prefix, size) = if largest == 0.0 {
        ("", 1.0)
    } else {
        PREFIXES
            .iter()
            .find(|(_, size)| largest >= *size * 0.999)
            .copied()
            .unwrap_or(PREFIXES[PREFIXES.len() - 1])
    };
    // Voltages are read in mV whatever their size, as Brian2 users do.
    let (prefix, size) = if symbol == "V" && largest < 1.0 {
        ("m", 1e-3)
    } else {
        (prefix, size)
    };
    (format!("{prefix}{symbol}"), 1.0 / size)
}

/// `name (unit)`, or the name alone for a dimensionless value.
fn axis_label(name: &str, unit: &str) -> String {
    if unit.is_empty() {
        name.to_string()
    } else {
        format!("{name} ({unit})")
    }
}

/// A range around `values`, never empty.
fn value_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        return (lo - 1.0)..(hi + 1.0);
    }
    let pad = (hi - lo) * 0.05;
    (lo - pad)..(hi + pad)
}

/// Draws with `draw` into an RGB image and encodes it as PNG.
fn render_png(
    width: u32,
    height: u32,
    draw: impl FnOnce(&DrawingArea<text::Glyphs, plotters::coord::Shift>) -> Result<(), String>,
) -> Result<Vec<u8>, String> {
    let font = ab_glyph::FontRef::try_from_slice(FONT)
        .map_err(|_| "the bundled font cannot be read".to_string())?;
    let mut pixels = vec![0u8; width as usize * height as usize * 3];
    {
        let bitmap = BitMapBackend::with_buffer(&mut pixels, (width, height));
        let root = text::Glyphs::new(bitmap, font).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        draw(&root)?;
        root.present().map_err(|e| e.to_string())?;
    }
    let mut png = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
        writer
            .write_image_data(&pixels)
            .map_err(|e| e.to_string())?;
    }
    Ok(png)
}

/// A tick label: `200`, not `200.0`; `0.25`, not `0.25000000000000006`.
fn tick(x: &f64) -> String {
    crate::progress::significant(*x)
}

/// Colours of successive traces: matplotlib's default cycle, which
/// Brian2 users' own plots use.
const CYCLE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn raster(title: &str, t: &[f64], i: &[f64], t_end: f64, neurons: f64) -> Result<Vec<u8>, String> {
    render_png(WIDTH, HEIGHT, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FAMILY, 20))
            .margin(15)
            .margin_right(35)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..(t_end * 1e3).max(1e-9), -0.5..(neurons - 0.5).max(0.5))
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("time (ms)")
            .y_desc("neuron index")
            .x_label_formatter(&tick)
            .y_label_formatter(&|y| format!("{}", y.round() as i64))
            .label_style((FAMILY, 15))
            .axis_desc_style((FAMILY, 17))
            .draw()
            .map_err(err)?;
        // Dots shrink as spikes crowd, so a dense raster stays readable.
        let size = if i.len() > 20_000 { 1 } else { 2 };
        chart
            .draw_series(
                t.iter()
                    .zip(i)
                    .map(|(&t, &i)| Circle::new((t * 1e3, i), size, BLACK.filled())),
            )
            .map_err(err)?;
        Ok(())
    })
}

fn rate_plot(title: &str, t: &[f64], smooth: &[f64], t_end: f64) -> Result<Vec<u8>, String> {
    render_png(WIDTH, HEIGHT, |root| {
        // The raw rate of one step is a multiple of 1/(N dt) and mostly
        // noise; like Brian2 users, the picture shows the smoothed rate.
        let top = value_range(smooth.iter().copied()).end;
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FAMILY, 20))
            .margin(15)
            .margin_right(35)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..(t_end * 1e3).max(1e-9), 0.0..top.max(1.0))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("time (ms)")
            .y_desc("rate (Hz)")
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .label_style((FAMILY, 15))
            .axis_desc_style((FAMILY, 17))
            .draw()
            .map_err(err)?;
        let line = CYCLE[0].stroke_width(2);
        chart
            .draw_series(LineSeries::new(
                t.iter().zip(smooth).map(|(&t, &r)| (t * 1e3, r)),
                line,
            ))
            .map_err(err)?;
        Ok(())
    })
}

fn traces(
    title: &str,
    t: &[f64],
    record: &[f64],
    panels: &[Panel],
    t_end: f64,
    element: &str,
) -> Result<Vec<u8>, String> {
    let count = panels.len().max(1);
    let height = 40 + PANEL_HEIGHT * count as u32;
    render_png(WIDTH, height, |root| {
        let root = root.titled(title, (FAMILY, 20)).map_err(err)?;
        let areas = root.split_evenly((count, 1));
        for (panel, area) in panels.iter().zip(&areas) {
            let shown = panel.rows.min(MAX_TRACES);
            let values = &panel.values[..shown * panel.columns];
            let (unit, scale) = display_unit(panel.unit.as_deref(), values);
            let range = value_range(values.iter().map(|v| v * scale));
            let caption = if panel.rows > shown {
                format!("{} (first {shown} of {} recorded)", panel.name, panel.rows)
            } else {
                panel.name.clone()
            };
            let mut chart = ChartBuilder::on(area)
                .caption(caption, (FAMILY, 17))
                .margin(12)
                .margin_right(35)
                .x_label_area_size(40)
                .y_label_area_size(75)
                .build_cartesian_2d(0.0..(t_end * 1e3).max(1e-9), range)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc("time (ms)")
                .y_desc(axis_label(&panel.name, &unit))
                .x_label_formatter(&tick)
                .y_label_formatter(&tick)
                .label_style((FAMILY, 14))
                .axis_desc_style((FAMILY, 16))
                .draw()
                .map_err(err)?;
            for row in 0..shown {
                let color = CYCLE[row % CYCLE.len()].stroke_width(1);
                let series = values[row * panel.columns..(row + 1) * panel.columns]
                    .iter()
                    .zip(t)
                    .filter(|(v, _)| v.is_finite())
                    .map(|(v, &t)| (t * 1e3, v * scale));
                let drawn = chart
                    .draw_series(LineSeries::new(series, color))
                    .map_err(err)?;
                if shown <= 10 {
                    let label = match record.get(row) {
                        Some(r) => format!("{element} {}", *r as i64),
                        None => format!("{element} {row}"),
                    };
                    drawn
                        .label(label)
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
                }
            }
            if shown <= 10 && shown > 1 {
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .label_font((FAMILY, 13))
                    .draw()
                    .map_err(err)?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_keeps_a_constant_rate_away_from_the_edges() {
        let smooth = smooth_rate(&[10.0; 100], 1e-4, 5e-4).expect("small window");
        assert!((smooth[50] - 10.0).abs() < 1e-12);
        // numpy's mode='same' pads with zeros: the edges fall off.
        assert!(smooth[0] < 10.0);
    }

    #[test]
    fn smoothing_spreads_a_single_spike_as_a_normalised_gaussian() {
        let mut rate = vec![0.0; 41];
        rate[20] = 1.0;
        let smooth = smooth_rate(&rate, 1.0, 5.0).expect("small window");
        let total: f64 = smooth.iter().sum();
        assert!((total - 1.0).abs() < 1e-12);
        assert!(smooth[20] > smooth[21] && smooth[21] > smooth[25]);
        assert_eq!(smooth[9], 0.0, "the window ends at 2 widths");
    }

    #[test]
    fn a_window_too_wide_is_refused_before_it_is_allocated() {
        let e = smooth_rate(&[1.0; 1000], 1e-4, 1e5).expect_err("4e9 steps");
        assert!(e.contains("too wide for 1000 samples"), "{e}");
        assert!(smooth_rate(&[1.0; 10], 0.0, 1e-3).is_err(), "a step of 0");
    }

    #[test]
    fn voltages_are_in_millivolts_and_currents_get_a_readable_prefix() {
        assert_eq!(
            display_unit(Some("volt"), &[-0.07, 0.02]),
            ("mV".into(), 1e3)
        );
        let (unit, scale) = display_unit(Some("amp"), &[2e-10]);
        assert_eq!(unit, "pA");
        assert!((scale - 1e12).abs() < 1.0);
        assert_eq!(display_unit(Some("1"), &[3.0]).0, "");
        assert_eq!(
            display_unit(Some("siemens/metre**2"), &[3.0]).0,
            "siemens/metre**2"
        );
    }
}
