"""The cost report page (see agentops.costs.views)."""

from django.urls import path

from agentops.costs import views

urlpatterns = [path("p/<slug:slug>/costs/", views.costs_page, name="costs")]
