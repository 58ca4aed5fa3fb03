import BFFNCore

extension ChatTemplate {
    /// A date and time of day (proleptic Gregorian, no time zone) for `strftime_now`, so that a render can be
    /// made deterministic.
    public struct CivilTime: Sendable, Equatable {
        /// The year, e.g. 2024.
        public var year: Int
        /// The month, 1...12.
        public var month: Int
        /// The day of the month, 1...31.
        public var day: Int
        /// The hour, 0...23.
        public var hour: Int
        /// The minute, 0...59.
        public var minute: Int
        /// The second, 0...59.
        public var second: Int

        /// A time; `month` 1...12, `day` 1...31, `hour` 0...23.
        public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) {
            (self.year, self.month, self.day, self.hour, self.minute, self.second) = (year, month, day, hour, minute, second)
        }

        /// The time `seconds` after 1970-01-01 00:00:00 UTC.
        public init(secondsSinceEpoch seconds: Int) {
            let days = Int((Double(seconds) / 86_400).rounded(.down))
            let rest = seconds - days * 86_400
            // Howard Hinnant's civil_from_days.
            let z = days + 719_468
            let era = (z >= 0 ? z : z - 146_096) / 146_097
            let doe = z - era * 146_097
            let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
            let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
            let mp = (5 * doy + 2) / 153
            let d = doy - (153 * mp + 2) / 5 + 1
            let m = mp < 10 ? mp + 3 : mp - 9
            self.init(year: yoe + era * 400 + (m <= 2 ? 1 : 0), month: m, day: d,
                      hour: rest / 3600, minute: rest % 3600 / 60, second: rest % 60)
        }

        /// The system clock's current time in UTC.
        public static func now() -> CivilTime { CivilTime(secondsSinceEpoch: Int(time(nil))) }

        /// 0 = Monday ... 6 = Sunday.
        var weekday: Int {
            let y = month <= 2 ? year - 1 : year
            let era = (y >= 0 ? y : y - 399) / 400
            let yoe = y - era * 400
            let mp = (month + 9) % 12
            let doy = (153 * mp + 2) / 5 + day - 1
            let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
            let days = era * 146_097 + doe - 719_468
            return ((days % 7) + 7 + 3) % 7
        }

        var dayOfYear: Int {
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
            let before = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334][max(0, min(11, month - 1))]
            return before + day + (leap && month > 2 ? 1 : 0)
        }

        /// C's `strftime` in the C locale for `%Y %y %m %d %e %H %I %M %S %p %b %B %h %a %A %j %F %T %D %%`,
        /// and glibc's `%-d`-style flag that drops the padding.
        /// - Throws: `.templateError` for another conversion.
        func formatted(_ format: String) throws -> String {
            let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                          "October", "November", "December"]
            let days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
            var out = ""
            var chars = Array(format)[...]
            while let c = chars.popFirst() {
                guard c == "%", var k = chars.popFirst() else { out.append(c); continue }
                var pad = true
                if k == "-", let next = chars.popFirst() { pad = false; k = next }
                func two(_ v: Int) -> String { pad && v < 10 ? "0\(v)" : "\(v)" }
                switch k {
                case "Y": out += "\(year)"
                case "y": out += two(year % 100)
                case "m": out += two(month)
                case "d": out += two(day)
                case "e": out += pad && day < 10 ? " \(day)" : "\(day)"
                case "H": out += two(hour)
                case "I": out += two(hour % 12 == 0 ? 12 : hour % 12)
                case "M": out += two(minute)
                case "S": out += two(second)
                case "p": out += hour < 12 ? "AM" : "PM"
                case "b", "h": out += String(months[month - 1].prefix(3))
                case "B": out += months[month - 1]
                case "a": out += String(days[weekday].prefix(3))
                case "A": out += days[weekday]
                case "j": out += pad ? String(repeating: "0", count: max(0, 3 - String(dayOfYear).count)) + "\(dayOfYear)" : "\(dayOfYear)"
                case "F": out += "\(year)-\(two(month))-\(two(day))"
                case "T": out += "\(two(hour)):\(two(minute)):\(two(second))"
                case "D": out += "\(two(month))/\(two(day))/\(two(year % 100))"
                case "%": out += "%"
                default: throw TemplateRenderer.typeError("strftime_now: unsupported conversion '%\(k)'")
                }
            }
            return out
        }
    }
}
