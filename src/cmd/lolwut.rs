//! LOLWUT (Redis's lolwut.c, lolwut5.c, lolwut6.c): the version line, or with `VERSION 5`
//! Georg Nees's "Schotter" in braille characters and with `VERSION 6` a city skyline in
//! terminal colours.
//!
//! The drawing follows Redis's arithmetic step by step (float where Redis uses float, the
//! same rounding and truncation), so the parts that involve no randomness — the top two
//! rows of Schotter, the canvas size, the captions — come out byte for byte as Redis's.
//! The random parts use our own generator where Redis uses `rand()`.

use super::flags::{FAST, READONLY};
use super::{Command, Ctx};
use crate::resp::Args;

/// The family's command table.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "lolwut", arity: -1, flags: READONLY | FAST, keys: (0, 0, 0), group: "server", handler: lolwut },
];

/// `LOLWUT [VERSION version] [art arguments...]`.
fn lolwut(ctx: &mut Ctx, args: Args) {
    let mut version = None;
    let mut rest_from = 1;
    if args.len() >= 3 && args.get(1).eq_ignore_ascii_case(b"version") {
        let Some(v) = ctx.int_arg(args.get(2)) else {
            return;
        };
        // Redis prints the number with "%u.0.0" and looks at the first characters: only
        // 5 and 6 pick a drawing (a negative number wraps to a long one and picks none).
        version = Some(v as u32);
        rest_from = 3;
    }
    let art_args: Vec<&[u8]> = args.tail(rest_from).iter().collect();
    let text = match version {
        Some(5) => {
            let Some(text) = schotter_command(ctx, &art_args) else {
                return;
            };
            text
        }
        Some(6) => {
            let Some(text) = skyline_command(ctx, &art_args) else {
                return;
            };
            text
        }
        _ => format!("Redis ver. {}\n", super::server::REDIS_VERSION),
    };
    ctx.out.verbatim(text.as_bytes());
}

/// Reads the optional integer arguments in order into `values`, replying with Redis's
/// error at the first one that is not an integer.
fn optional_ints(ctx: &mut Ctx, args: &[&[u8]], values: &mut [i64]) -> Option<()> {
    for (arg, value) in args.iter().zip(values.iter_mut()) {
        *value = ctx.int_arg(arg)?;
    }
    Some(())
}

/// C's `rand()` range (glibc's RAND_MAX).
const RAND_MAX: i32 = i32::MAX;

/// A `rand()`-like draw in `0..=RAND_MAX`.
fn rand(ctx: &mut Ctx) -> i32 {
    (ctx.store.random() >> 33) as i32
}

/// A canvas of small colour numbers (0 = black .. 3 = white), as lwCanvas.
struct Canvas {
    width: i32,
    height: i32,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: i32, height: i32, background: u8) -> Canvas {
        Canvas {
            width,
            height,
            pixels: vec![background; (width.max(0) * height.max(0)) as usize],
        }
    }

    /// Sets a pixel; points off the canvas are ignored.
    fn draw(&mut self, x: i32, y: i32, color: u8) {
        if x >= 0 && x < self.width && y >= 0 && y < self.height {
            self.pixels[(x + y * self.width) as usize] = color;
        }
    }

    /// A pixel's colour; points off the canvas read as 0.
    fn get(&self, x: i32, y: i32) -> u8 {
        if x >= 0 && x < self.width && y >= 0 && y < self.height {
            self.pixels[(x + y * self.width) as usize]
        } else {
            0
        }
    }

    /// Bresenham's line from (x1, y1) to (x2, y2).
    fn line(&mut self, mut x1: i32, mut y1: i32, x2: i32, y2: i32, color: u8) {
        let dx = (x2 - x1).abs();
        let dy = (y2 - y1).abs();
        let sx = if x1 < x2 { 1 } else { -1 };
        let sy = if y1 < y2 { 1 } else { -1 };
        let mut err = dx - dy;
        loop {
            self.draw(x1, y1, color);
            if x1 == x2 && y1 == y2 {
                break;
            }
            let e2 = err * 2;
            if e2 > -dy {
                err -= dy;
                x1 += sx;
            }
            if e2 < dx {
                err += dx;
                y1 += sy;
            }
        }
    }

    /// A square centred on (x, y), `size` across its diagonal's circle, turned by `angle`.
    fn square(&mut self, x: i32, y: i32, size: f32, angle: f32, color: u8) {
        // Each step in the precision Redis's C computes it: float variables, double
        // constants and libm calls.
        // Redis's truncated constant, not SQRT_2: the last digits can move a pixel.
        #[allow(clippy::approx_constant)]
        let size = (f64::from(size) / 1.4142135623) as f32;
        let size = f64::from(size).round() as f32;
        let mut px = [0i32; 4];
        let mut py = [0i32; 4];
        let mut k = (std::f64::consts::FRAC_PI_4 + f64::from(angle)) as f32;
        for j in 0..4 {
            px[j] = (f64::from(k).sin() * f64::from(size) + f64::from(x)).round() as i32;
            py[j] = (f64::from(k).cos() * f64::from(size) + f64::from(y)).round() as i32;
            k = (f64::from(k) + std::f64::consts::FRAC_PI_2) as f32;
        }
        for j in 0..4 {
            self.line(px[j], py[j], px[(j + 1) % 4], py[(j + 1) % 4], color);
        }
    }
}

/// LOLWUT 5: `[columns [squares-per-row [squares-per-column]]]`, clamped as Redis clamps.
fn schotter_command(ctx: &mut Ctx, args: &[&[u8]]) -> Option<String> {
    let mut values = [66, 8, 12];
    optional_ints(ctx, args, &mut values)?;
    let [cols, per_row, per_col] = values;
    let (cols, per_row, per_col) = (
        cols.clamp(1, 1000),
        per_row.clamp(1, 200),
        per_col.clamp(1, 200),
    );
    let canvas = schotter(ctx, cols as i32, per_row as i32, per_col as i32);
    let mut text = braille(&canvas);
    text.push_str("\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. ");
    text.push_str(super::server::REDIS_VERSION);
    text.push('\n');
    Some(text)
}

/// Draws the squares: straight in the first two rows, more and more turned and shifted
/// in the rows below.
fn schotter(ctx: &mut Ctx, console_cols: i32, per_row: i32, per_col: i32) -> Canvas {
    let width = console_cols * 2;
    let padding = if width > 4 { 2 } else { 0 };
    let side = (width - padding * 2) as f32 / per_row as f32;
    let height = (side * per_col as f32 + (padding * 2) as f32) as i32;
    let mut canvas = Canvas::new(width, height, 0);
    for y in 0..per_col {
        for x in 0..per_row {
            let mut sx = (x as f32 * side + side / 2.0 + padding as f32) as i32;
            let mut sy = (y as f32 * side + side / 2.0 + padding as f32) as i32;
            let mut angle = 0.0f32;
            if y > 1 {
                let mut draw = || rand(ctx) as f32 / RAND_MAX as f32 / per_col as f32 * y as f32;
                let (mut r1, mut r2, mut r3) = (draw(), draw(), draw());
                if rand(ctx) % 2 == 1 {
                    r1 = -r1;
                }
                if rand(ctx) % 2 == 1 {
                    r2 = -r2;
                }
                if rand(ctx) % 2 == 1 {
                    r3 = -r3;
                }
                angle = r1;
                sx = (sx as f32 + r2 * side / 3.0) as i32;
                sy = (sy as f32 + r3 * side / 3.0) as i32;
            }
            canvas.square(sx, sy, side, angle, 1);
        }
    }
    canvas
}

/// Renders 2x4 pixel blocks as braille characters (U+2800 plus the dot bits), one text
/// line per four pixel rows.
fn braille(canvas: &Canvas) -> String {
    let mut text = String::new();
    let mut y = 0;
    while y < canvas.height {
        let mut x = 0;
        while x < canvas.width {
            let dots = [
                (0, 0),
                (0, 1),
                (0, 2),
                (1, 0),
                (1, 1),
                (1, 2),
                (0, 3),
                (1, 3),
            ];
            let mut bits = 0u32;
            for (bit, (dx, dy)) in dots.into_iter().enumerate() {
                if canvas.get(x + dx, y + dy) != 0 {
                    bits |= 1 << bit;
                }
            }
            text.push(char::from_u32(0x2800 + bits).unwrap_or(' '));
            x += 2;
        }
        if y != canvas.height - 1 {
            text.push('\n');
        }
        y += 4;
    }
    text
}

/// LOLWUT 6: `[columns [rows]]`, clamped to 1..=1000 each.
fn skyline_command(ctx: &mut Ctx, args: &[&[u8]]) -> Option<String> {
    let mut values = [80, 20];
    optional_ints(ctx, args, &mut values)?;
    let [cols, rows] = values.map(|v| v.clamp(1, 1000));
    let mut canvas = Canvas::new(cols as i32, rows as i32, 3);
    skyline(ctx, &mut canvas);
    let mut text = String::new();
    for y in 0..canvas.height {
        for x in 0..canvas.width {
            // Foreground and background both set, so terminals agree on the colour.
            let escape = match canvas.get(x, y) {
                1 => "0;90;100m",
                2 => "0;37;47m",
                3 => "0;97;107m",
                _ => "0;30;40m",
            };
            text.push_str("\x1b[");
            text.push_str(escape);
            text.push_str(" \x1b[0m");
        }
        if y != canvas.height - 1 {
            text.push('\n');
        }
    }
    text.push_str("\nDedicated to the 8 bit game developers of past and present.\n");
    text.push_str("Original 8 bit image from Plaguemon by hikikomori. Redis ver. ");
    text.push_str(super::server::REDIS_VERSION);
    text.push('\n');
    Some(text)
}

/// One building of the skyline.
struct Skyscraper {
    xoff: i32,
    width: i32,
    height: i32,
    windows: bool,
    color: u8,
}

/// Two passes of grey buildings without windows (the lighter behind), then black ones
/// with windows in front.
fn skyline(ctx: &mut Ctx, canvas: &mut Canvas) {
    let h = canvas.height;
    for color in [2u8, 1] {
        let mut offset = -10;
        while offset < canvas.width {
            offset += rand(ctx) % 8;
            let width = 10 + rand(ctx) % 9;
            let height = if color == 2 {
                h / 2 + rand(ctx) % h / 2
            } else {
                h / 2 + rand(ctx) % h / 3
            };
            let building = Skyscraper {
                xoff: offset,
                width,
                height,
                windows: false,
                color,
            };
            skyscraper(ctx, canvas, &building);
            offset += if color == 2 { width / 2 } else { width + 1 };
        }
    }
    let mut offset = -10;
    while offset < canvas.width {
        offset += rand(ctx) % 8;
        let mut width = 5 + rand(ctx) % 14;
        if width % 4 != 0 {
            width += width % 3;
        }
        let height = h / 3 + rand(ctx) % h / 2;
        let building = Skyscraper {
            xoff: offset,
            width,
            height,
            windows: true,
            color: 0,
        };
        skyscraper(ctx, canvas, &building);
        offset += width + 5;
    }
}

/// Draws one building from the bottom row up: the roof two pixels narrower on each side,
/// windows (two pixels wide, one tall, a random grey) away from the walls.
fn skyscraper(ctx: &mut Ctx, canvas: &mut Canvas, b: &Skyscraper) {
    let start_y = canvas.height - 1;
    let end_y = start_y - b.height + 1;
    let mut y = start_y;
    while y >= end_y {
        for x in b.xoff..b.xoff + b.width {
            if y == end_y && (x <= b.xoff + 1 || x >= b.xoff + b.width - 2) {
                continue;
            }
            let mut color = b.color;
            if b.windows
                && x > b.xoff + 1
                && x < b.xoff + b.width - 2
                && y > end_y + 1
                && y < start_y - 1
            {
                let rel_x = x - (b.xoff + 1);
                let rel_y = y - (end_y + 1);
                if (rel_x / 2) % 2 != 0 && rel_y % 2 != 0 {
                    loop {
                        color = 1 + (rand(ctx) % 2) as u8;
                        if color != b.color {
                            break;
                        }
                    }
                    // Both pixels of a window share its colour.
                    if rel_x % 2 != 0 {
                        color = canvas.get(x - 1, y);
                    }
                }
            }
            canvas.draw(x, y, color);
        }
        y -= 1;
    }
}
