"""Accounts: the default one, those the admin makes, and whose token
made the request being handled."""

from __future__ import annotations

from .common import Part, invalid, new_id, not_found, now, public


class Accounts(Part):
    """Who is asking: the accounts and the request's own."""

    @property
    def account(self) -> dict:
        """The account of the request being handled (the default account
        outside a request, e.g. a background release phase)."""
        return getattr(self._acting, "account", None) or self.default_account

    def acting(self, account: dict | None):
        """Context: handle this thread's work as ``account``."""
        platform = self

        class _Acting:
            def __enter__(self):
                self.before = getattr(platform._acting, "account", None)
                platform._acting.account = account
                return account

            def __exit__(self, *exc):
                platform._acting.account = self.before
                return False
        return _Acting()

    def users(self) -> list[dict]:
        """Every account: the default one first, then those the admin made."""
        return [self.default_account] + [public(u) for u in self.store.find("user")]

    def user_for_token(self, token: str, default_token: str) -> dict | None:
        """The account whose API token ``token`` is (None: nobody's)."""
        import hmac
        if not token:
            return None
        if hmac.compare_digest(token, default_token):
            return self.default_account
        for u in self.store.find("user"):
            if hmac.compare_digest(token, u["_token"]):
                return public(u)
        return None

    def find_user(self, identity: str) -> dict:
        """An account by email or id (``collaborator`` and ``team-member``
        bodies name users so)."""
        for u in self.users():
            if identity in (u["id"], u["email"]):
                return u
        raise not_found("user")

    def create_user(self, email: str, token: str) -> dict:
        """An admin-made account with its own API token."""
        if not isinstance(email, str) or "@" not in email:
            raise invalid("email: must be an email address")
        with self.store.transaction():
            if any(u["email"] == email for u in self.users()):
                raise invalid("email: an account with that email exists")
            ts = now()
            doc = {**self.default_account, "id": new_id(), "email": email,
                   "name": email.split("@")[0], "created_at": ts, "updated_at": ts,
                   "last_login": ts, "_token": token}
            self.store.put("user", doc)
        return public(doc)

    def user(self) -> dict:
        return {"id": self.account["id"], "email": self.account["email"]}
