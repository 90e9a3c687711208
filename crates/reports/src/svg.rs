//! Charts as inline SVG: bars (grouped when there are several series) and
//! lines, with axes, grid lines, a legend and a tooltip per point. The SVG
//! scales with the page (viewBox) and needs no script or font files.

use std::fmt::Write;

/// One series of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend name.
    pub name: String,
    /// One value per label (None: no value).
    pub values: Vec<Option<f64>>,
}

/// The kinds of chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Vertical bars.
    Bars,
    /// Lines with points.
    Lines,
}

const W: f64 = 720.0;
const H: f64 = 280.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 16.0;
const BOTTOM: f64 = 40.0;
/// Colours that stay apart for the common kinds of colour blindness.
pub const PALETTE: [&str; 6] = [
    "#2f6fde", "#e07b00", "#1b9e77", "#c2185b", "#7b5bd6", "#7a7a7a",
];

/// A chart of `series` over `labels`; `percent` shows the y axis as
/// percentages of 1.
pub fn chart(
    kind: Kind,
    title: &str,
    labels: &[String],
    series: &[Series],
    percent: bool,
) -> String {
    let top = if series.len() > 1 { 40.0 } else { 16.0 };
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - top - BOTTOM;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0_f64, |a, &b| if b.is_finite() { a.max(b) } else { a });
    // Beyond 1e300 the axis arithmetic would overflow; no count gets there.
    let (step, y_max) = ticks(if max > 0.0 { max.min(1e300) } else { 1.0 });
    let y = |v: f64| top + plot_h - (v / y_max) * plot_h;
    let n = labels.len().max(1);
    let band = plot_w / n as f64;
    let class = match kind {
        Kind::Bars => "chart chart-bars",
        Kind::Lines => "chart chart-lines",
    };
    let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="{class}" viewBox="0 0 {W} {H}" role="img" aria-label="{}" data-series="{}" preserveAspectRatio="xMidYMid meet">"#,
        esc(title),
        esc(&names.join(","))
    );
    let _ = write!(svg, "<title>{}</title>", esc(title));

    // Grid lines and y labels.
    let mut v = 0.0;
    while v <= y_max + step / 2.0 {
        let yy = y(v);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#d9dde3" stroke-width="1"/><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11" fill="#555">{}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            yy + 4.0,
            esc(&axis_value(v, step, percent))
        );
        v += step;
    }

    // X labels: at most about eight, evenly spaced.
    let every = labels.len().div_ceil(8).max(1);
    for (i, l) in labels.iter().enumerate() {
        if i % every != 0 {
            continue;
        }
        let x = LEFT + band * (i as f64 + 0.5);
        let _ = write!(
            svg,
            r##"<text x="{x:.1}" y="{:.1}" text-anchor="middle" font-size="11" fill="#555">{}</text>"##,
            H - BOTTOM + 16.0,
            esc(&short_label(l))
        );
    }

    match kind {
        Kind::Bars => {
            let m = series.len().max(1) as f64;
            let bar = (band * 0.8 / m).max(1.0);
            for (si, s) in series.iter().enumerate() {
                let color = PALETTE[si % PALETTE.len()];
                for (i, value) in s.values.iter().enumerate() {
                    let Some(value) = value.filter(|v| v.is_finite()) else {
                        continue;
                    };
                    let x = LEFT + band * i as f64 + band * 0.1 + bar * si as f64;
                    let yy = y(value.max(0.0));
                    let _ = write!(
                        svg,
                        r#"<rect class="bar" x="{x:.1}" y="{yy:.1}" width="{bar:.1}" height="{:.1}" fill="{color}"><title>{}: {} {}</title></rect>"#,
                        (top + plot_h - yy).max(0.0),
                        esc(labels.get(i).map_or("", |s| s.as_str())),
                        esc(&s.name),
                        esc(&point_value(value, percent))
                    );
                }
            }
        }
        Kind::Lines => {
            for (si, s) in series.iter().enumerate() {
                let color = PALETTE[si % PALETTE.len()];
                let points: Vec<(f64, f64, f64, usize)> = s
                    .values
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| {
                        v.filter(|v| v.is_finite())
                            .map(|v| (LEFT + band * (i as f64 + 0.5), y(v.max(0.0)), v, i))
                    })
                    .collect();
                let path: Vec<String> = points
                    .iter()
                    .map(|(x, y, _, _)| format!("{x:.1},{y:.1}"))
                    .collect();
                let _ = write!(
                    svg,
                    r#"<polyline class="line" fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
                    path.join(" ")
                );
                if points.len() <= 62 {
                    for (x, yy, v, i) in &points {
                        let _ = write!(
                            svg,
                            r#"<circle class="point" cx="{x:.1}" cy="{yy:.1}" r="3" fill="{color}"><title>{}: {} {}</title></circle>"#,
                            esc(&labels[*i]),
                            esc(&s.name),
                            esc(&point_value(*v, percent))
                        );
                    }
                }
            }
        }
    }

    // Axis and legend.
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#888" stroke-width="1"/>"##,
        W - RIGHT,
        top + plot_h,
        top + plot_h
    );
    if series.len() > 1 {
        let mut x = LEFT;
        for (si, s) in series.iter().enumerate() {
            let color = PALETTE[si % PALETTE.len()];
            let _ = write!(
                svg,
                r##"<rect x="{x:.1}" y="10" width="12" height="12" fill="{color}"/><text x="{:.1}" y="20" font-size="12" fill="#222">{}</text>"##,
                x + 16.0,
                esc(&s.name)
            );
            x += 28.0 + 7.0 * s.name.chars().count() as f64;
        }
    }
    svg.push_str("</svg>");
    svg
}

/// A step of 1, 2 or 5 times a power of ten giving about four intervals,
/// and the axis maximum it makes.
fn ticks(max: f64) -> (f64, f64) {
    let raw = max / 4.0;
    let pow = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * pow)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * pow);
    (step, (max / step).ceil().max(1.0) * step)
}

fn axis_value(v: f64, step: f64, percent: bool) -> String {
    if percent {
        let decimals = if step * 100.0 >= 1.0 { 0 } else { 1 };
        return format!("{:.*}%", decimals, v * 100.0);
    }
    if step >= 1.0 {
        sendlens_render::group_digits(&format!("{v:.0}"))
    } else {
        format!("{v:.2}")
    }
}

fn point_value(v: f64, percent: bool) -> String {
    if percent {
        format!("{:.1}%", v * 100.0)
    } else if v.fract() == 0.0 {
        sendlens_render::group_digits(&format!("{v:.0}"))
    } else {
        format!("{v:.2}")
    }
}

/// `2026-11-26` → `26 Nov`; `2026-11-26 13:00:00` → `26 Nov 13h`.
fn short_label(l: &str) -> String {
    let date = l
        .get(..10)
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    match date {
        Some(d) if l.len() == 10 => d.format("%-d %b").to_string(),
        Some(d) => match l.get(11..13) {
            Some(h) => format!("{} {h}h", d.format("%-d %b")),
            None => d.format("%-d %b").to_string(),
        },
        None if l.chars().count() > 14 => format!("{}…", l.chars().take(13).collect::<String>()),
        None => l.to_string(),
    }
}

/// Text for HTML and SVG.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ticks() {
        assert_eq!(ticks(7.0), (2.0, 8.0));
        assert_eq!(ticks(100.0), (50.0, 100.0));
        assert_eq!(ticks(0.37), (0.1, 0.4));
        assert_eq!(ticks(1.0), (0.5, 1.0));
        // An absurd value still draws (and ends).
        let huge = chart(
            Kind::Bars,
            "t",
            &["a".into()],
            &[Series {
                name: "n".into(),
                values: vec![Some(f64::MAX)],
            }],
            false,
        );
        assert!(huge.ends_with("</svg>"));
    }

    #[test]
    fn bars_have_one_rect_per_value_scaled_to_the_axis() {
        let labels: Vec<String> = ["2026-11-01", "2026-11-02", "2026-11-03"]
            .map(String::from)
            .to_vec();
        let s = Series {
            name: "endpoint deliveries".into(),
            values: vec![Some(4.0), Some(0.0), Some(8.0)],
        };
        let svg = chart(Kind::Bars, "Deliveries <per day>", &labels, &[s], false);
        assert_eq!(svg.matches(r#"class="bar""#).count(), 3);
        assert!(svg.contains("Deliveries &lt;per day&gt;"));
        assert!(svg.contains(">1 Nov<"));
        // The axis goes to 8: the tallest bar fills the plot (224 px high).
        assert!(svg.contains(r#"height="224.0""#), "{svg}");
        let lines = chart(
            Kind::Lines,
            "Rates",
            &labels,
            &[
                Series {
                    name: "open".into(),
                    values: vec![Some(0.5), None, Some(0.25)],
                },
                Series {
                    name: "click".into(),
                    values: vec![Some(0.1), Some(0.2), Some(0.3)],
                },
            ],
            true,
        );
        assert_eq!(lines.matches(r#"class="point""#).count(), 5);
        assert!(
            lines.contains(">50.0%<") || lines.contains("50.0%"),
            "{lines}"
        );
        assert!(lines.contains(r#"data-series="open,click""#));
    }
}
