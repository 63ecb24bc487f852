// Mirrors android/jvm-tests LocationTest.kt, test for test.
import Foundation
import XCTest
@testable import Praxis

final class LocationTests: XCTestCase {
    /// Waits (10 s at most) for the visits permission to satisfy `test`.
    private func visits(_ praxis: PraxisCore,
                        _ test: @escaping @Sendable (LocationPermission) -> Bool) async throws -> LocationPermission {
        try await within(10) {
            for await perms in praxis.locationPermissions {
                if let v = perms.first(where: { $0.purpose == .locationVisits }), test(v) { return v }
            }
            throw TimedOut()
        }
    }

    func testThePermissionFlowFollowsTheOrganisationAndTheUsersConsent() async throws {
        let (admin, _) = try await signedIn("admin", key: 11)
        let (nurse, _) = try await signedIn("nurse", key: 12)
        let org = try await admin.createOrg(name: "Soins Nord")
        _ = try await nurse.joinOrg(code: try await admin.createJoinCode(orgID: org))
        try await nurse.syncNow(reason: "test")
        _ = try await visits(nurse) { $0.closed == .policyDisabled }
        // A member cannot change the policy.
        await assertThrows(.forbidden) { _ = try await nurse.updateLocationPolicy(orgID: org, locationVisits: true) }
        let policy = try await admin.updateLocationPolicy(orgID: org, locationVisits: true)
        XCTAssertTrue(policy.locationVisits)
        XCTAssertEqual(policy.maxPrecision, .approximate)
        try await nurse.syncNow(reason: "test")
        _ = try await visits(nurse) { $0.closed == .consentRequired }

        let visit = try await nurse.createAppointment(title: "Insulin", start: Date().addingTimeInterval(3600),
                                                     durationMinutes: 15, latitude: 50.6365, longitude: 3.0635)
        let fix = Fix(latitude: 50.6366, longitude: 3.0636, accuracyMeters: 8)
        await assertThrows(.consentRequired(purpose: "location_visits")) {
            _ = try await nurse.checkIn(appointmentID: visit, fix: fix)
        }
        let none = try await nurse.visitEvents(appointmentID: visit)
        XCTAssertTrue(none.isEmpty, "nothing stored")

        try await nurse.grantConsent(.locationVisits)
        let allowed = try await visits(nurse) { $0.closed == nil }
        XCTAssertEqual(allowed.precision, .approximate)
        let event = try await nurse.checkIn(appointmentID: visit, fix: fix)
        XCTAssertEqual(event.kind, .checkIn)
        XCTAssertEqual(event.inside, true)
        XCTAssertEqual(event.precision, .approximate)
        XCTAssertFalse(String(describing: event).contains("50.63"), "description hides the position")
        let consents = try await nurse.consentStatus()
        XCTAssertEqual(consents.first { $0.purpose == .locationVisits }?.granted, true)
        let synced = try await nurse.syncNow(reason: "test")
        XCTAssertEqual(synced.state, .idle)

        try await nurse.withdrawConsent(.locationVisits)
        _ = try await visits(nurse) { $0.closed == .consentRequired }
        await assertThrows(.consentRequired(purpose: "location_visits")) {
            _ = try await nurse.checkOut(appointmentID: visit, fix: fix)
        }
        let again = try await nurse.syncNow(reason: "test")
        XCTAssertEqual(again.state, .idle)

        // Erasure by purpose: the check-in goes from the server and this device; with no retention stated by
        // the organisation, nothing is held. A purpose that is not a location one is refused.
        let marketing = await invalidField { _ = try await nurse.eraseLocationData(purpose: .marketing) }
        XCTAssertNotNil(marketing)
        let erased = try await nurse.eraseLocationData(purpose: .locationVisits)
        XCTAssertEqual(erased.rawFixesErased, 1)
        XCTAssertEqual(erased.visitEventsDeleted, 1)
        XCTAssertEqual(erased.visitEventsHeld, 0)
        XCTAssertNil(erased.heldUntil)
        let gone = try await nurse.visitEvents(appointmentID: visit)
        XCTAssertTrue(gone.isEmpty, "gone from this device")
        let current = try await admin.locationPolicy(orgID: org)
        XCTAssertEqual(current.visitRecordsDays, 0)
        let kept = try await admin.updateLocationPolicy(orgID: org, visitRecordsDays: 30)
        XCTAssertEqual(kept.visitRecordsDays, 30)
        let negative = await invalidField { _ = try await admin.updateLocationPolicy(orgID: org, visitRecordsDays: -1) }
        XCTAssertEqual(negative, "visit_records_days", "refused before it reaches the core")
    }

    func testALiveShareReachesTheRecipientAndEndsWhenStopped() async throws {
        let (admin, adminID) = try await signedIn("admin2", key: 13)
        let (nurse, _) = try await signedIn("nurse2", key: 14)
        let org = try await admin.createOrg(name: "Soins Sud")
        _ = try await nurse.joinOrg(code: try await admin.createJoinCode(orgID: org))
        _ = try await admin.updateLocationPolicy(orgID: org, locationSharing: true, maxPrecision: .precise)
        try await nurse.syncNow(reason: "test")
        await assertThrows(.consentRequired(purpose: "location_sharing")) {
            _ = try await nurse.startLocationShare(recipients: [adminID], durationMinutes: 30)
        }
        try await nurse.grantConsent(.locationSharing)
        try await nurse.syncNow(reason: "test")
        let tooLong = await invalidField { _ = try await nurse.startLocationShare(recipients: [adminID], durationMinutes: 600) }
        XCTAssertEqual(tooLong, "duration_min")
        let share = try await nurse.startLocationShare(recipients: [adminID], durationMinutes: 30)
        let reached = try await nurse.shareLocation(Fix(latitude: 43.6047, longitude: 1.4442, accuracyMeters: 12))
        XCTAssertEqual(reached, 1)
        let seen = try await admin.sharedWithMe()
        XCTAssertEqual(seen.count, 1)
        XCTAssertNotNil(seen.first?.position, "a position arrived")
        XCTAssertFalse(String(describing: seen).contains("43.60"), "description hides the position")
        try await nurse.stopLocationShare(shareID: share.shareId)
        let after = try await admin.sharedWithMe()
        XCTAssertTrue(after.isEmpty)
    }
}
