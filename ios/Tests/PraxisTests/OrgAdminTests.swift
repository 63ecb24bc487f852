// Mirrors android/jvm-tests OrgAdminTest.kt, test for test.
import Foundation
import XCTest
@testable import Praxis

final class OrgAdminTests: XCTestCase {
    func testPromoteDemoteRemoveAndReadTheAuditLogWhileAMemberIsForbidden() async throws {
        let (admin, adminID) = try await signedIn("orgadmin", key: 11)
        let (nurse, nurseID) = try await signedIn("orgnurse", key: 12)
        let (other, otherID) = try await signedIn("orgother", key: 13)
        let org = try await admin.createOrg(name: "Cabinet Swift")
        _ = try await nurse.joinOrg(code: try await admin.createJoinCode(orgID: org))
        _ = try await other.joinOrg(code: try await admin.createJoinCode(orgID: org))

        // Promote, then demote.
        try await admin.orgAdmin.setMemberRole(orgID: org, userID: nurseID, role: .admin)
        var members = try await admin.members(orgID: org)
        XCTAssertEqual(members.first { $0.userId == nurseID }?.role, .admin)
        try await admin.orgAdmin.setMemberRole(orgID: org, userID: nurseID, role: .member)
        members = try await admin.members(orgID: org)
        XCTAssertEqual(members.first { $0.userId == nurseID }?.role, .member)
        XCTAssertFalse(String(describing: members).contains("orgnurse"), "description hides names")

        // A member tries each admin action: refused, nothing changes.
        await assertThrows(.forbidden) { try await nurse.orgAdmin.setMemberRole(orgID: org, userID: otherID, role: .admin) }
        await assertThrows(.forbidden) { try await nurse.orgAdmin.removeMember(orgID: org, userID: otherID) }
        await assertThrows(.forbidden) { _ = try await nurse.orgAdmin.auditLog(orgID: org) }
        await assertThrows(.forbidden) { _ = try await nurse.orgAdmin.joinCodes(orgID: org) }
        await assertThrows(.forbidden) { _ = try await nurse.orgAdmin.rename(orgID: org, name: "Taken over") }
        members = try await admin.members(orgID: org)
        XCTAssertEqual(members.count, 3)

        // Join codes, the name, removal, the last-admin guard, leaving.
        _ = try await admin.createJoinCode(orgID: org)
        let codes = try await admin.orgAdmin.joinCodes(orgID: org)
        XCTAssertEqual(codes.count, 1)
        try await admin.orgAdmin.revokeJoinCode(orgID: org, codeID: codes[0].id)
        let noCodes = try await admin.orgAdmin.joinCodes(orgID: org)
        XCTAssertTrue(noCodes.isEmpty)
        let renamed = try await admin.orgAdmin.rename(orgID: org, name: "Cabinet Swift (Lille)")
        XCTAssertEqual(renamed, "Cabinet Swift (Lille)")
        try await admin.orgAdmin.removeMember(orgID: org, userID: otherID)
        await assertThrows(.notFound) { _ = try await other.members(orgID: org) }
        await assertThrows(.conflict(code: "last_admin")) {
            try await admin.orgAdmin.setMemberRole(orgID: org, userID: adminID, role: .member)
        }
        try await nurse.orgAdmin.leave(orgID: org)
        members = try await admin.members(orgID: org)
        XCTAssertEqual(members.map(\.userId), [adminID])

        // The audit log tells it, with ids only.
        let log = try await admin.orgAdmin.auditLog(orgID: org)
        let events = log.map(\.event)
        XCTAssertEqual(events.filter { $0 == "member_role_changed" }.count, 2)
        XCTAssertTrue(events.contains("member_removed"), "\(events)")
        XCTAssertFalse(log.contains { $0.detailsJson.contains("Cabinet") || $0.detailsJson.contains("orgnurse") })
        let changes = try await admin.orgAdmin.policyChanges(orgID: org)
        XCTAssertTrue(changes.isEmpty)
    }
}
