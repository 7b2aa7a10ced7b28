"""Where moto differs from AWS in a way a playbook depends on, the simulator corrects it.

Each correction is small, idempotent and documented with the AWS behaviour it restores.

- IAM `GetLoginProfile`/`CreateLoginProfile`: AWS returns the login profile's own
  creation date; moto returns the user's. The credential playbook's re-check compares a
  console password's creation date with the finding's time to catch a password the
  attacker created during the propagation wait, so the date must be the profile's.
"""

from __future__ import annotations

from typing import Any

_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.iam.models import IAMBackend
    from moto.iam.responses import IamResponse

    original_create = IAMBackend.create_login_profile

    def create_login_profile(self: Any, user_name: str, password: str) -> Any:
        user = original_create(self, user_name, password)
        user.login_profile_created = utcnow()  # type: ignore[attr-defined]
        return user

    def respond(self: Any, user: Any) -> ActionResult:
        created = getattr(user, "login_profile_created", None) or user.create_date
        return ActionResult(
            {
                "LoginProfile": {
                    "UserName": user.name,
                    "CreateDate": created,
                    "PasswordResetRequired": user.password_reset_required,
                }
            }
        )

    def create_response(self: Any) -> ActionResult:
        user = self.backend.create_login_profile(self._get_param("UserName"), self._get_param("Password"))
        return respond(self, user)

    def get_response(self: Any) -> ActionResult:
        return respond(self, self.backend.get_login_profile(self._get_param("UserName")))

    IAMBackend.create_login_profile = create_login_profile  # type: ignore[method-assign]
    IamResponse.create_login_profile = create_response  # type: ignore[method-assign]
    IamResponse.get_login_profile = get_response  # type: ignore[method-assign]
    _applied = True
