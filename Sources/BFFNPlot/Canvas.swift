/// An RGB raster to draw charts on: filled rectangles, lines, and text in the built-in bitmap font. Pixels
/// outside the canvas are ignored. `png()` encodes it.
public struct Canvas: Sendable {
    /// An 8-bit RGB colour.
    public struct Color: Sendable, Equatable {
        public var r: UInt8, g: UInt8, b: UInt8
        /// A colour from its channels.
        public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) {
            self.r = r
            self.g = g
            self.b = b
        }
        public static let white = Color(255, 255, 255), black = Color(0, 0, 0), grey = Color(200, 200, 200)
        public static let darkGrey = Color(110, 110, 110), red = Color(214, 39, 40)
        /// Distinct line colours (a colour-blind-safe palette), used in turn.
        public static let palette: [Color] = [Color(31, 119, 180), Color(255, 127, 14), Color(44, 160, 44), Color(148, 103, 189),
                                              Color(140, 86, 75), Color(227, 119, 194), Color(23, 190, 207), Color(188, 189, 34)]

        /// White for 0, deepening blue up to 1 (values are clamped): how heatmaps show a score.
        public static func intensity(_ v: Double) -> Color {
            let t = max(0, min(1, v))
            return Color(UInt8(222 - 214 * t), UInt8(235 - 187 * t), UInt8(247 - 140 * t))
        }
    }

    /// Size in pixels.
    public let width: Int, height: Int
    /// 3 bytes per pixel, rows from the top.
    public private(set) var pixels: [UInt8]

    /// A canvas filled with `background`.
    public init(width: Int, height: Int, background: Color = .white) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        fill(x: 0, y: 0, width: width, height: height, background)
    }

    /// The colour at (x, y).
    public func pixel(_ x: Int, _ y: Int) -> Color {
        let i = (y * width + x) * 3
        return Color(pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// Sets one pixel.
    public mutating func set(_ x: Int, _ y: Int, _ c: Color) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = (y * width + x) * 3
        pixels[i] = c.r
        pixels[i + 1] = c.g
        pixels[i + 2] = c.b
    }

    /// Fills the rectangle with top-left (x, y).
    public mutating func fill(x: Int, y: Int, width w: Int, height h: Int, _ c: Color) {
        let x0 = max(0, x), x1 = min(width, x + w), y0 = max(0, y), y1 = min(height, y + h)
        guard x0 < x1, y0 < y1 else { return }
        for yy in y0..<y1 {
            for xx in x0..<x1 { set(xx, yy, c) }
        }
    }

    /// A straight line `thickness` pixels wide.
    public mutating func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ c: Color, thickness: Int = 1) {
        let steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for s in 0...steps {
            let x = x0 + (x1 - x0) * s / steps, y = y0 + (y1 - y0) * s / steps
            fill(x: x - (thickness - 1) / 2, y: y - (thickness - 1) / 2, width: thickness, height: thickness, c)
        }
    }

    /// `text` with its top-left at (x, y), each font pixel `scale` × `scale`.
    public mutating func text(_ text: String, x: Int, y: Int, _ c: Color = .black, scale: Int = 1) {
        for (i, ch) in text.enumerated() {
            guard let rows = BitmapFont.rows(ch) else { continue }
            for (r, bits) in rows.enumerated() {
                for col in 0..<BitmapFont.width where bits & (0x10 >> col) != 0 {
                    fill(x: x + (i * BitmapFont.advance + col) * scale, y: y + r * scale, width: scale, height: scale, c)
                }
            }
        }
    }

    /// The width of `text` in pixels at `scale`.
    public static func textWidth(_ text: String, scale: Int = 1) -> Int { max(0, text.count * BitmapFont.advance - 1) * scale }

    /// The canvas as PNG bytes.
    /// - Throws: `PNGEncoder.encode`'s errors.
    public func png() throws -> [UInt8] { try PNGEncoder.encode(width: width, height: height, rgb: pixels) }
}
