package account

import "testing"

func TestRoles(t *testing.T) {
	for _, tc := range []struct {
		role         string
		known, staff bool
		admin        bool
	}{
		{RoleStudent, true, false, false},
		{RoleInstructor, true, true, false},
		{RoleAdmin, true, true, true},
		{"", false, false, false},
		{"Admin", false, false, false},
		{"root", false, false, false},
	} {
		u := User{Role: tc.role}
		if KnownRole(tc.role) != tc.known || u.Staff() != tc.staff || u.Admin() != tc.admin {
			t.Errorf("role %q: known %v staff %v admin %v, want %v %v %v", tc.role, KnownRole(tc.role), u.Staff(), u.Admin(), tc.known, tc.staff, tc.admin)
		}
	}
}
