import BFFNCore
import Testing

@Suite("open file limit")
struct OpenFileLimitTests {
    /// The limits read back, raising never lowers the soft limit nor passes the hard one.
    @Test func raisingStaysWithinTheHardLimit() throws {
        let (soft, hard) = try #require(OpenFileLimit.current)
        #expect(soft >= 3 && soft <= hard)
        #expect(OpenFileLimit.raise(to: 1) == soft)
        let target = soft < hard ? soft + 1 : soft
        let raised = try #require(OpenFileLimit.raise(to: target))
        #expect(raised == target && OpenFileLimit.current?.soft == raised)
        if hard < Int.max / 2 { #expect(OpenFileLimit.raise(to: hard + 1) == hard) }
    }
}
