"""Folium builders: take geo/ results, return a folium.Map or write one HTML file."""
