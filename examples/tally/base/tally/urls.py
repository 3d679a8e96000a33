"""Routes: the counting page, a cheap health check, and the compiled assets."""
from counter import views
from django.conf import settings
from django.urls import path, re_path
from django.views.static import serve

urlpatterns = [
    path("", views.index),
    path("up", views.up),
    # WhiteNoise would be the usual choice on Heroku; serving the collected,
    # hashed files with Django itself keeps the example to two dependencies.
    re_path(r"^static/(?P<path>.+)$", serve, {"document_root": settings.STATIC_ROOT}),
]
